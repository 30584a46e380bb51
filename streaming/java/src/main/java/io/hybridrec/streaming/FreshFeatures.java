package io.hybridrec.streaming;

import java.nio.charset.StandardCharsets;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.TimeDomain;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import hybridrec.v1.Events.InteractionEvent;

import io.hybridrec.features.EntityState;
import io.hybridrec.features.Event;
import io.hybridrec.features.FeastEncoding;
import io.hybridrec.features.FreshSpec;
import io.hybridrec.features.Genres;
import io.hybridrec.features.LegacyState;

/**
 * Every fresh view in one keyed operator (key = view + entity), executing the aggregations Python declares
 * ({@code hybridrec/fresh_features.py}, handed over as the spec): no feature is defined here.
 *
 * <p>Input: ENTITY_EVENT rows (view index, entity id, user, event id, item, event type number, event time), one per
 * event and view that reads it. Each event is folded into its entity's state as it arrives ({@link EntityState}
 * keeps event-time order inside the state); no feature waits on a watermark. A changed entity emits one SNAPSHOT row
 * (view, entity, version, Feast hash payload) at the next {@code flush_interval_ms} boundary of processing time, so
 * a burst of events of one entity costs one snapshot. Trending windows move on with the watermark through
 * event-time timers. An event too late for its entity's order-sensitive features goes to the {@link #LATE} side
 * output (the dead-letter topic) and changes nothing; it is in the archive like every valid event.
 */
public class FreshFeatures extends KeyedProcessFunction<String, Row, Row> {
    private static final long serialVersionUID = 1L;

    /** Dead letters of late events, in the columns the job's dead-letter insert reads. */
    public static final OutputTag<Row> LATE = new OutputTag<>("late-events", lateType());

    /** Name of the per-entity state (its keys are what {@link FreshFeaturesOperator} walks at the end of input). */
    static final String STATE = "fresh-entity";

    private final String specText;
    private transient FreshSpec spec;
    private transient Genres genres;
    private transient ValueState<EntityState> state;
    private transient ValueState<byte[]> legacy;
    private transient FeastEncoding.Buf buf;
    private transient Counter emitted;
    private transient Counter late;

    public FreshFeatures(String specText) {
        this.specText = specText;
    }

    /** Key of an ENTITY_EVENT row: the view's state key tag ({@link FreshSpec#stateKeys}), then the entity id. */
    public static final class ViewEntity implements KeySelector<Row, String> {
        private static final long serialVersionUID = 1L;
        private final String tags;

        ViewEntity(String tags) {
            this.tags = tags;
        }

        @Override
        public String getKey(Row row) {
            return tags.charAt((Integer) row.getField(0)) + (String) row.getField(1);
        }
    }

    /** The keyed operator running this function over {@code specText}: it also flushes changed entities at end of input. */
    public static FreshFeaturesOperator operator(String specText) {
        return new FreshFeaturesOperator(new FreshFeatures(specText));
    }

    public static KeySelector<Row, String> keySelector(String specText) {
        return new ViewEntity(FreshSpec.parse(specText).stateKeys);
    }

    /** SNAPSHOT rows: view name, entity id, version (ms), Feast hash payload. */
    public static TypeInformation<Row> outputType() {
        return Types.ROW_NAMED(new String[] {"view", "entity_id", "version_ms", "payload"},
            Types.STRING, Types.STRING, Types.LONG, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
    }

    public static TypeInformation<Row> lateType() {
        return Types.ROW_NAMED(
            new String[] {"k", "v", "reason", "detail", "checked_at_ms", "payload_size", "sha256"},
            PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO,
            Types.STRING, Types.STRING, Types.LONG, Types.INT, Types.STRING);
    }

    public static OutputTag<Row> lateTag() {
        return LATE;
    }

    @Override
    public void open(OpenContext context) {
        spec = FreshSpec.parse(specText);
        genres = new CatalogGenres(spec);
        buf = new FeastEncoding.Buf();
        state = getRuntimeContext().getState(new ValueStateDescriptor<>(STATE, new EntityStateSerializer()));
        // The state of the micro-window operator this one replaced (same uid): read once per key, then dropped.
        legacy = getRuntimeContext().getState(
            new ValueStateDescriptor<>("entity-features", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        emitted = getRuntimeContext().getMetricGroup().counter("snapshots_emitted");
        late = getRuntimeContext().getMetricGroup().counter("late_events");
    }

    @Override
    public void processElement(Row row, Context ctx, Collector<Row> out) throws Exception {
        FreshSpec.View view = spec.views[(Integer) row.getField(0)];
        Event e = new Event((Long) row.getField(6), (String) row.getField(3), (String) row.getField(2),
            (String) row.getField(4), (Integer) row.getField(5));
        EntityState s = load(view);
        boolean wasDirty = s.dirty;
        long behind = s.accept(view, e, genres, ctx.timerService().currentWatermark());
        if (behind >= 0) {
            late.inc();
            ctx.output(LATE, deadLetter(view, (String) row.getField(1), e, behind, s));
            return;
        }
        wakeUpLater(s, view, ctx);
        if (spec.flushIntervalMs == 0) {
            emit(view, ctx.getCurrentKey(), s, out);
        } else if (!wasDirty) {
            long now = ctx.timerService().currentProcessingTime();
            ctx.timerService().registerProcessingTimeTimer(now - now % spec.flushIntervalMs + spec.flushIntervalMs);
        }
        state.update(s);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Row> out) throws Exception {
        EntityState s = state.value();
        if (s == null) {
            return;
        }
        FreshSpec.View view = spec.viewOfStateKey(ctx.getCurrentKey().charAt(0));
        s.conform(view, spec.genres.length);
        if (ctx.timeDomain() == TimeDomain.EVENT_TIME && timestamp == s.wakeAtMs) {
            s.wakeAtMs = Long.MAX_VALUE;
            s.advanceTo(view, ctx.timerService().currentWatermark());
            wakeUpLater(s, view, ctx);
        }
        if (s.dirty) {
            emit(view, ctx.getCurrentKey(), s, out);
        }
        state.update(s);
    }

    /** The entity of the current key emits its snapshot now if it changed since the last one (end of input). */
    void emitIfChanged(String key, Collector<Row> out) throws Exception {
        EntityState s = state.value();
        if (s == null || !s.dirty) {
            return;
        }
        FreshSpec.View view = spec.viewOfStateKey(key.charAt(0));
        s.conform(view, spec.genres.length);
        emit(view, key, s, out);
        state.update(s);
    }

    private EntityState load(FreshSpec.View view) throws Exception {
        EntityState s = state.value();
        if (s == null) {
            byte[] old = legacy.value();
            if (old != null) {
                legacy.clear();
                return LegacyState.read(old, view, spec.genres.length);
            }
            return EntityState.create(view, spec.genres.length);
        }
        s.conform(view, spec.genres.length);
        return s;
    }

    private void wakeUpLater(EntityState s, FreshSpec.View view, Context ctx) {
        long at = s.wakeUpAt(view);
        if (at != Long.MAX_VALUE && at != s.wakeAtMs) {
            ctx.timerService().registerEventTimeTimer(at);
            s.wakeAtMs = at;
        }
    }

    private void emit(FreshSpec.View view, String key, EntityState s, Collector<Row> out) {
        String entity = key.substring(1);
        long version = s.nextVersion();
        out.collect(Row.of(view.name, entity, version, FeastEncoding.payload(buf, view, entity, version,
            spec.generation, s.progress(view), s.values(view))));
        emitted.inc();
    }

    /** The late event as a dead letter: its identity re-encoded (the full event is in the archive). */
    private static Row deadLetter(FreshSpec.View view, String entity, Event e, long behindMs, EntityState s) {
        byte[] payload = InteractionEvent.newBuilder().setEventId(e.eventId).setUserId(e.userId).setItemId(e.itemId)
            .setEventTypeValue(e.type).setEventTimeMs(e.timeMs).build().toByteArray();
        String detail = view.name + " " + entity + ": " + behindMs + " ms behind its newest event (allowed "
            + view.allowedLatenessMs + " ms, " + view.maxBuffer + " events); archived, not in fresh features";
        return Row.of(e.userId.getBytes(StandardCharsets.UTF_8), payload, "late_event", detail,
            System.currentTimeMillis(), payload.length, ProtoDecode.sha256(payload));
    }
}

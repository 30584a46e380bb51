package io.hybridrec.streaming;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.api.operators.TimestampedCollector;
import org.apache.flink.types.Row;

/**
 * {@link FreshFeatures} as a keyed operator that also knows when a bounded input ends. Snapshots of changed entities
 * wait for a processing-time timer at the next flush boundary, and Flink discards processing-time timers that have
 * not fired when the input ends: a bounded run (a backfill, a test) that ended within one flush interval of its last
 * events lost those entities' newest snapshots. At the end of the input every entity changed since its last
 * snapshot emits it, before the sink's own end-of-input flush writes them.
 */
public class FreshFeaturesOperator extends KeyedProcessOperator<String, Row, Row> implements BoundedOneInput {
    private static final long serialVersionUID = 1L;

    private final FreshFeatures features;

    public FreshFeaturesOperator(FreshFeatures features) {
        super(features);
        this.features = features;
    }

    @Override
    public void endInput() throws Exception {
        List<String> keys = new ArrayList<>();
        KeyedStateBackend<String> backend = getKeyedStateBackend();
        try (Stream<String> all = backend.getKeys(FreshFeatures.STATE, VoidNamespace.INSTANCE)) {
            all.forEach(keys::add);
        }
        TimestampedCollector<Row> out = new TimestampedCollector<>(output);
        out.eraseTimestamp();
        for (String key : keys) {
            setCurrentKey(key);
            features.emitIfChanged(key, out);
        }
    }
}

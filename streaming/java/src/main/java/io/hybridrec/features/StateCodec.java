package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;

/**
 * The saved form of an {@link EntityState}: a format version, then every aggregation's state under its id (kind
 * and output names), so a state saved under an older spec is read without that spec and re-shaped by
 * {@link EntityState#conform}. A change of this layout bumps {@link #FORMAT} and keeps a reader for the old one
 * (the tests restore states of every format from fixtures).
 */
public final class StateCodec {
    /** 2: a session keeps its event count (its item list is capped). 1 is still read. */
    public static final int FORMAT = 2;

    private StateCodec() {
    }

    public static void write(EntityState s, DataOutput out) throws IOException {
        out.writeByte(FORMAT);
        out.writeLong(s.version);
        out.writeBoolean(s.dirty);
        out.writeLong(s.wakeAtMs);
        out.writeLong(s.accepted);
        writeNullableEvent(out, s.newest);
        out.writeInt(s.ids.length);
        for (int i = 0; i < s.ids.length; i++) {
            out.writeUTF(s.ids[i]);
            s.current[i].write(out);
            boolean hasHorizon = s.horizon != null && s.horizon[i] != null;
            out.writeBoolean(hasHorizon);
            if (hasHorizon) {
                s.horizon[i].write(out);
            }
        }
        out.writeBoolean(s.horizon != null);
        out.writeInt(s.buffer == null ? -1 : s.buffer.size());
        if (s.buffer != null) {
            for (Event e : s.buffer) {
                Aggregation.writeEvent(out, e);
            }
        }
        writeNullableEvent(out, s.horizonKey);
    }

    public static EntityState read(DataInput in) throws IOException {
        int format = in.readUnsignedByte();
        if (format < 1 || format > FORMAT) {
            throw new IOException("entity state of format " + format + ", this code reads formats 1 to " + FORMAT);
        }
        EntityState s = new EntityState();
        s.version = in.readLong();
        s.dirty = in.readBoolean();
        s.wakeAtMs = in.readLong();
        s.accepted = in.readLong();
        s.newest = readNullableEvent(in);
        int n = in.readInt();
        s.ids = new String[n];
        s.current = new Aggregation.State[n];
        Aggregation.State[] horizon = new Aggregation.State[n];
        for (int i = 0; i < n; i++) {
            s.ids[i] = in.readUTF();
            String kind = s.ids[i].substring(0, s.ids[i].indexOf(':'));
            s.current[i] = Aggregation.readState(kind, in, format);
            if (in.readBoolean()) {
                horizon[i] = Aggregation.readState(kind, in, format);
            }
        }
        s.horizon = in.readBoolean() ? horizon : null;
        int buffered = in.readInt();
        if (buffered >= 0) {
            s.buffer = new ArrayList<>(buffered + 4);
            for (int i = 0; i < buffered; i++) {
                s.buffer.add(Aggregation.readEvent(in));
            }
        }
        s.horizonKey = readNullableEvent(in);
        return s;
    }

    private static void writeNullableEvent(DataOutput out, Event e) throws IOException {
        out.writeBoolean(e != null);
        if (e != null) {
            Aggregation.writeEvent(out, e);
        }
    }

    private static Event readNullableEvent(DataInput in) throws IOException {
        return in.readBoolean() ? Aggregation.readEvent(in) : null;
    }
}

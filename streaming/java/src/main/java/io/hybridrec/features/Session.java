package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The current session: the events since the last gap of more than {@code gapMs} between consecutive events; its
 * start, its items in event order and their mean genre vector. Order-sensitive: an event arriving late can split
 * or join sessions, so {@link EntityState} re-folds it in event-time order.
 */
final class Session extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "session";
    private static final String[] FACETS = {"start_ms", "item_ids", "genre_mean"};
    private static final String[] DTYPES = {"Int64", "Array(String)", "Array(Float32)"};

    final long gapMs;

    Session(String id, boolean[] types, long gapMs) {
        super(KIND, id, types, FACETS, DTYPES);
        this.gapMs = gapMs;
    }

    static final class SessionState implements State {
        long startMs;
        long lastMs;
        final List<String> items;
        final double[] genreSum;

        SessionState(List<String> items, double[] genreSum) {
            this.items = items;
            this.genreSum = genreSum;
        }

        @Override
        public SessionState copy() {
            SessionState c = new SessionState(new ArrayList<>(items), genreSum.clone());
            c.startMs = startMs;
            c.lastMs = lastMs;
            return c;
        }

        @Override
        public void write(DataOutput out) throws IOException {
            out.writeLong(startMs);
            out.writeLong(lastMs);
            out.writeInt(items.size());
            for (String item : items) {
                out.writeUTF(item);
            }
            writeDoubles(out, genreSum);
        }

        static SessionState read(DataInput in) throws IOException {
            long start = in.readLong();
            long last = in.readLong();
            int n = in.readInt();
            List<String> items = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                items.add(in.readUTF());
            }
            SessionState s = new SessionState(items, readDoubles(in));
            s.startMs = start;
            s.lastMs = last;
            return s;
        }
    }

    @Override
    public boolean commutative() {
        return false;
    }

    @Override
    public State create(int nGenres) {
        return new SessionState(new ArrayList<>(), new double[nGenres]);
    }

    /** {@code e} is the newest so far. */
    @Override
    public void add(State state, Event e, Genres genres) {
        SessionState s = (SessionState) state;
        if (s.items.isEmpty() || e.timeMs - s.lastMs > gapMs) {
            s.startMs = e.timeMs;
            s.items.clear();
            Arrays.fill(s.genreSum, 0.0);
        }
        s.items.add(e.itemId);
        double[] vec = genres.vector(e.itemId);
        for (int g = 0; g < s.genreSum.length; g++) {
            s.genreSum[g] = s.genreSum[g] + vec[g];
        }
        s.lastMs = e.timeMs;
    }

    @Override
    public Object facet(State state, int f) {
        SessionState s = (SessionState) state;
        switch (f) {
            case 0: return s.items.isEmpty() ? 0L : s.startMs;
            case 1: return s.items;
            default: {
                double[] mean = new double[s.genreSum.length];
                int n = s.items.size();
                if (n > 0) {
                    for (int g = 0; g < mean.length; g++) {
                        mean[g] = s.genreSum[g] / n;
                    }
                }
                return mean;
            }
        }
    }
}

package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

/**
 * Σ genre vector · 2^-(T − t)/half-life over the events, T = the newest, normalised to sum 1. An older event adds its
 * vector decayed to T; a newer one decays the sum to its own time first: any order gives the same sum up to rounding.
 */
final class DecayedGenreSum extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "decayed_genre_sum";
    private static final String[] FACETS = {"shares"};
    private static final String[] DTYPES = {"Array(Float32)"};

    final long halfLifeMs;

    DecayedGenreSum(String id, boolean[] types, long halfLifeMs) {
        super(KIND, id, types, FACETS, DTYPES);
        this.halfLifeMs = halfLifeMs;
    }

    static final class SumState implements State {
        final double[] sum;
        long atMs = Long.MIN_VALUE;   // T; MIN_VALUE: no event yet

        SumState(double[] sum) {
            this.sum = sum;
        }

        @Override
        public SumState copy() {
            SumState c = new SumState(sum.clone());
            c.atMs = atMs;
            return c;
        }

        @Override
        public void write(DataOutput out) throws IOException {
            out.writeLong(atMs);
            writeDoubles(out, sum);
        }

        static SumState read(DataInput in) throws IOException {
            long at = in.readLong();
            SumState s = new SumState(readDoubles(in));
            s.atMs = at;
            return s;
        }
    }

    @Override
    public State create(int nGenres) {
        return new SumState(new double[nGenres]);
    }

    @Override
    public void add(State state, Event e, Genres genres) {
        SumState s = (SumState) state;
        double[] vec = genres.vector(e.itemId);
        if (s.atMs == Long.MIN_VALUE || e.timeMs >= s.atMs) {
            double k = s.atMs == Long.MIN_VALUE ? 0.0 : decay(halfLifeMs, e.timeMs - s.atMs);
            for (int g = 0; g < s.sum.length; g++) {
                s.sum[g] = s.sum[g] * k + vec[g];
            }
            s.atMs = e.timeMs;
        } else {
            double k = decay(halfLifeMs, s.atMs - e.timeMs);
            for (int g = 0; g < s.sum.length; g++) {
                s.sum[g] = s.sum[g] + vec[g] * k;
            }
        }
    }

    @Override
    public Object facet(State state, int f) {
        SumState s = (SumState) state;
        double total = 0.0;
        for (double v : s.sum) {
            total += v;
        }
        double[] out = new double[s.sum.length];
        if (total > 0) {
            for (int g = 0; g < out.length; g++) {
                out[g] = s.sum[g] / total;
            }
        }
        return out;
    }
}

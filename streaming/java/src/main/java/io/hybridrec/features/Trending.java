package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

/**
 * Hopping windows of {@code windowMs} every {@code slideMs}: the count of the current window, fired early on every
 * event, and its end {@code e = min(end(max(T, W)), end(T) + windowMs)}, where end(x) is the first slide boundary
 * after x, T the newest event and W the watermark. Events only ever raise the count of the current window; the
 * watermark moves the window on (the count falls) until it holds nothing, one window after the newest event. Counts
 * are kept per slide bucket of the current window, so an event in any order lands in its bucket or, when older
 * than the window, changes nothing.
 */
final class Trending extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "trending";
    private static final String[] FACETS = {"count", "window_end_ms"};
    private static final String[] DTYPES = {"Int64", "Int64"};

    final long windowMs;
    final long slideMs;
    final int buckets;

    Trending(String id, boolean[] types, long windowMs, long slideMs) {
        super(KIND, id, types, FACETS, DTYPES);
        if (windowMs % slideMs != 0) {
            throw new IllegalArgumentException("trending window must be a multiple of its slide");
        }
        this.windowMs = windowMs;
        this.slideMs = slideMs;
        this.buckets = (int) (windowMs / slideMs);
    }

    static final class WindowCounts implements State {
        long newestMs = Long.MIN_VALUE;
        long endMs;               // current window [endMs - windowMs, endMs)
        long slideMs;
        long[] counts;            // slot (bucket number mod buckets) of each bucket in the window

        WindowCounts(long slideMs, int buckets) {
            this.slideMs = slideMs;
            counts = new long[buckets];
        }

        @Override
        public WindowCounts copy() {
            WindowCounts c = new WindowCounts(slideMs, counts.length);
            c.newestMs = newestMs;
            c.endMs = endMs;
            c.counts = counts.clone();
            return c;
        }

        @Override
        public void write(DataOutput out) throws IOException {
            out.writeLong(newestMs);
            out.writeLong(endMs);
            out.writeLong(slideMs);
            out.writeInt(counts.length);
            for (long c : counts) {
                out.writeLong(c);
            }
        }

        static WindowCounts read(DataInput in) throws IOException {
            long newest = in.readLong();
            long end = in.readLong();
            WindowCounts s = new WindowCounts(in.readLong(), 0);
            s.newestMs = newest;
            s.endMs = end;
            s.counts = new long[in.readInt()];
            for (int i = 0; i < s.counts.length; i++) {
                s.counts[i] = in.readLong();
            }
            return s;
        }
    }

    /** A state saved with another window shape keeps its total in the newest bucket (it cannot be split again). */
    private WindowCounts shaped(State state) {
        WindowCounts s = (WindowCounts) state;
        if (s.counts.length != buckets || s.slideMs != slideMs) {
            long total = java.util.Arrays.stream(s.counts).sum();
            s.counts = new long[buckets];
            s.slideMs = slideMs;
            if (s.newestMs != Long.MIN_VALUE) {
                s.endMs = end(s.endMs - 1);
                s.counts[slot(s.endMs - slideMs)] = total;
            }
        }
        return s;
    }

    long end(long t) {
        return Math.floorDiv(t, slideMs) * slideMs + slideMs;
    }

    private int slot(long t) {
        return (int) Math.floorMod(Math.floorDiv(t, slideMs), (long) buckets);
    }

    private long cap(WindowCounts s) {
        return end(s.newestMs) + windowMs;
    }

    /** Moves the window end forward to {@code newEnd}; the buckets that leave the window are emptied (they become
     * the new buckets, and no counted event is that new). */
    private void slide(WindowCounts s, long newEnd) {
        if (newEnd - s.endMs >= windowMs) {
            java.util.Arrays.fill(s.counts, 0L);
        } else {
            for (long t = s.endMs; t < newEnd; t += slideMs) {
                s.counts[slot(t)] = 0L;
            }
        }
        s.endMs = newEnd;
    }

    @Override
    public State create(int nGenres) {
        return new WindowCounts(slideMs, buckets);
    }

    @Override
    public void add(State state, Event e, Genres genres) {
        WindowCounts s = shaped(state);
        if (s.newestMs == Long.MIN_VALUE) {
            s.newestMs = e.timeMs;
            s.endMs = end(e.timeMs);
        } else {
            s.newestMs = Math.max(s.newestMs, e.timeMs);
            long newEnd = end(e.timeMs);
            if (newEnd > s.endMs) {
                slide(s, newEnd);
            }
        }
        if (e.timeMs >= s.endMs - windowMs) {
            s.counts[slot(e.timeMs)]++;
        }
    }

    @Override
    public long wakeUpAt(State state) {
        WindowCounts s = shaped(state);
        return s.newestMs == Long.MIN_VALUE || s.endMs >= cap(s) ? Long.MAX_VALUE : s.endMs;
    }

    @Override
    public boolean advanceTo(State state, long watermarkMs) {
        WindowCounts s = shaped(state);
        if (s.newestMs == Long.MIN_VALUE || watermarkMs < s.endMs) {
            return false;
        }
        long cap = cap(s);
        long target = watermarkMs >= cap ? cap : Math.min(cap, end(watermarkMs));
        if (target <= s.endMs) {
            return false;
        }
        slide(s, target);
        return true;
    }

    /** Slides the window moved past the newest event's first window: a function of the state alone. */
    @Override
    public long progress(State state) {
        WindowCounts s = shaped(state);
        return s.newestMs == Long.MIN_VALUE ? 0L : (s.endMs - end(s.newestMs)) / slideMs;
    }

    @Override
    public long progressSpan() {
        return buckets + 1L;
    }

    @Override
    public Object facet(State state, int f) {
        WindowCounts s = shaped(state);
        if (f == 1) {
            return s.newestMs == Long.MIN_VALUE ? 0L : s.endMs;
        }
        long n = 0;
        for (long c : s.counts) {
            n += c;
        }
        return n;
    }
}

package io.hybridrec.features;

/**
 * Distinct item ids ordered by each item's newest event, newest first, at most {@code n}. Any arrival order gives
 * the same list: an item's older event never moves it, and one that fell off the end can only come back through
 * an event newer than the last kept one.
 */
final class DistinctLastN extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "distinct_last_n";
    private static final String[] FACETS = {"item_ids"};
    private static final String[] DTYPES = {"Array(String)"};

    final int n;

    DistinctLastN(String id, boolean[] types, int n) {
        super(KIND, id, types, FACETS, DTYPES);
        this.n = n;
    }

    @Override
    public State create(int nGenres) {
        return new LastN.Newest(Math.min(n + 1, 16));
    }

    @Override
    public void add(State state, Event e, Genres genres) {
        LastN.Newest s = (LastN.Newest) state;
        for (int i = 0; i < s.size; i++) {
            if (s.events[i].itemId.equals(e.itemId)) {
                if (s.events[i].compareTo(e) >= 0) {
                    return;  // the item's newer event is already there
                }
                s.remove(i);
                break;
            }
        }
        s.insert(s.position(e), e, n);
    }

    @Override
    public Object facet(State state, int f) {
        return ((LastN.Newest) state).items();
    }
}

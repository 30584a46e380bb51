package io.hybridrec.features;

/** An item's genre vector on the spec's genre axis (mass 1, all of it on Other for an unknown item). */
public interface Genres {
    double[] vector(String itemId);
}

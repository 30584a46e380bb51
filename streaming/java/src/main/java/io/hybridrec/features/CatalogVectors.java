package io.hybridrec.features;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Genre vectors from a catalog (item id → genre names); an item not in it counts as genre Other. */
public class CatalogVectors implements Genres {
    protected final FreshSpec spec;
    protected Map<String, List<String>> genres;
    private final Map<String, double[]> vectors = new HashMap<>();

    public CatalogVectors(FreshSpec spec, Map<String, List<String>> genres) {
        this.spec = spec;
        this.genres = genres;
    }

    @Override
    public double[] vector(String itemId) {
        double[] vec = vectors.get(itemId);
        if (vec != null) {
            return vec;
        }
        if (!genres.containsKey(itemId)) {
            missed(itemId);
        }
        List<String> gs = genres.get(itemId);
        vec = spec.genreVector(gs == null ? new ArrayList<>() : gs);
        if (gs != null) {
            vectors.put(itemId, vec);
        }
        return vec;
    }

    /** An item not in the catalog was asked for (a subclass may re-read its catalog). */
    protected void missed(String itemId) {
    }

    public int size() {
        return genres.size();
    }
}

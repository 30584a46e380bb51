"""Feature reads of the ranker behind one small interface (:class:`serving.features.base.FeatureReader`);
one backend per file: ``redis_direct`` (one HMGET per request on Feast's own Redis layout), ``feast_sdk``
(Feast's ``get_online_features``, kept for comparison and as the reference), ``memory`` (tests)."""

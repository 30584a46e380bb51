"""The speed layer: a PyFlink job from the ``interactions`` topic to fresh Feast features and the raw archive."""

"""The gRPC ranker (issue 6): answers homepage calls from fresh and batch features and the promoted model."""

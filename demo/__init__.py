"""The end-to-end demo: the whole lambda loop driven from outside, as a user meets it.

The demo is a client of the deployables, never a part of them: it starts the Flink job, the batch run and the
ranker as their own processes (their command lines), and talks to them only through Kafka, Redis (Feast), the
model registry and gRPC. Pure logic (the temporal split, the metrics, the plots) lives in small modules that
unit tests cover; ``demo.run`` wires them to the running services.
"""

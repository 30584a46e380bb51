"""Strong simple recommenders computed offline on the replay's own targets, so the served modes are judged
against what well-known methods make of the same events (issue #15, item 2).

Each method is fit on the history and scores items for a user from everything the user engaged with before
the target (history and fresh live events): EASE and implicit ALS fold the fresh events in, the item-to-item
method starts from the newest ones, popularity only excludes them. Hyper-parameters are chosen on a
validation cut inside the history (:mod:`evaluation.offline`), never on the test period.
"""

from evaluation.baselines.als import ImplicitALS
from evaluation.baselines.base import Method, Training, top_k
from evaluation.baselines.cooccurrence import CoOccurrence
from evaluation.baselines.ease import Ease
from evaluation.baselines.popularity import Popularity

__all__ = ["CoOccurrence", "Ease", "ImplicitALS", "Method", "Popularity", "Training", "top_k"]

"""For the Feast CLI only (`feast -c feature_repo apply|plan`): it discovers Feast objects at module level, so
this file builds the definitions from the process settings when the CLI imports it. Code calls
``feature_repo.definitions.build(settings)`` instead and never imports this module."""

from feature_repo.definitions import build
from hybridrec.config import get_settings

_definitions = build(get_settings())
user, item = _definitions.all[:2]
user_fresh_push = _definitions.user_fresh_push
item_fresh_push = _definitions.item_fresh_push
user_fresh = _definitions.user_fresh
item_fresh = _definitions.item_fresh
user_batch = _definitions.user_batch
item_batch = _definitions.item_batch

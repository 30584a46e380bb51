"""Feast's Redis layout, named once in hybridrec/feature_store.py: the CLI's yaml agrees with the code, and the
key and field helpers are what Feast's own online store reads."""

from __future__ import annotations

import yaml
from feast.infra.online_stores.helpers import _mmh3
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from hybridrec.config import get_settings
from hybridrec.feature_store import (
    ENTITY_KEY_SERIALIZATION_VERSION,
    FEATURE_REPO,
    online_field,
    online_key,
    repo_config,
)


def test_the_cli_yaml_uses_the_code_s_entity_key_format() -> None:
    cli = yaml.safe_load((FEATURE_REPO / "feature_store.yaml").read_text())
    assert cli["entity_key_serialization_version"] == ENTITY_KEY_SERIALIZATION_VERSION
    assert repo_config(get_settings()).entity_key_serialization_version == ENTITY_KEY_SERIALIZATION_VERSION


def test_keys_and_fields_are_feast_s_encoding() -> None:
    from feast.infra.key_encoding_utils import serialize_entity_key

    entity = EntityKey(join_keys=["user_id"], entity_values=[Value(string_val="u-é")])
    serialized = serialize_entity_key(entity, entity_key_serialization_version=ENTITY_KEY_SERIALIZATION_VERSION)
    assert online_key("proj", "user_id", "u-é") == serialized + b"proj"
    assert online_key("proj", "user_id", "u1") != online_key("proj", "item_id", "u1")
    assert online_field("user_fresh", "recent_items") == _mmh3("user_fresh:recent_items")

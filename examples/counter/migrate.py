"""The counter's release command (rollout_release_command in rollout.yml): run in a one-off
container of a new version before that version starts, as a database migration would be. It
records in redis the schema the version needs (`schema`, and the list `migrations`). With
COUNTER_MIGRATION_FAIL set it fails with that text, as a migration prints its error."""
import os
import sys

import redis

VERSION = os.environ.get("COUNTER_VERSION", "0.0.0-dev")
FAILURE = os.environ.get("COUNTER_MIGRATION_FAIL")
if FAILURE:
    sys.exit("migration to schema %s failed: %s" % (VERSION, FAILURE))
STORE = redis.Redis(host=os.environ.get("REDIS_HOST", "redis"), port=6379, socket_timeout=5)
STORE.rpush("migrations", VERSION)
STORE.set("schema", VERSION)
print("schema is now %s" % VERSION)

import pytest

from ansible_collections.nextgen.rollout.plugins.module_utils._retention import images_to_remove, kept_versions

REPO = "registry.test:5000/team/app"
HISTORY = [
    {"action": "deploy", "version": "1.0.0", "result": "succeeded", "details": {"image": REPO + "@sha256:a0"}},
    {"action": "deploy", "version": "1.1.0", "result": "succeeded", "details": {"image": REPO + "@sha256:a1"}},
    {"action": "deploy", "version": "1.2.0", "result": "failed", "details": {"image": REPO + "@sha256:a2"}},
    {"action": "canary", "version": "1.3.0", "result": "succeeded", "details": {"image": REPO + "@sha256:a3"}},
    {"action": "rollback", "version": "1.1.0", "result": "succeeded", "details": {"image": None}},
]


def image(ident, *refs):
    return {"Id": ident, "RepoTags": [r for r in refs if "@" not in r], "RepoDigests": [r for r in refs if "@" in r]}


def test_the_last_versions_that_went_live_are_kept_newest_first():
    assert kept_versions(HISTORY, 2) == ["1.1.0", "1.3.0"]
    assert kept_versions(HISTORY, 5) == ["1.1.0", "1.3.0", "1.0.0"]


def test_older_failed_and_foreign_images_go_kept_and_used_stay():
    images = [image("i0", REPO + ":1.0.0", REPO + "@sha256:a0"), image("i1", REPO + "@sha256:a1"),
              image("i2", REPO + ":1.2.0", REPO + "@sha256:a2"), image("i3", REPO + "@sha256:a3"),
              image("other", "redis:7.0"), image("warm", REPO + ":0.9.0")]
    assert images_to_remove(images, REPO, HISTORY, 2, in_use_ids={"warm"}) == ["i0", "i2"]
    assert images_to_remove(images, REPO, HISTORY, 3, in_use_ids=set()) == ["i2", "warm"]


def test_keep_must_hold_the_live_version():
    with pytest.raises(ValueError):
        images_to_remove([], REPO, HISTORY, 0, set())

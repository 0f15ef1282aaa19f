from ansible_collections.nextgen.rollout.plugins.filter.versions import FilterModule


def test_filter_is_registered_and_delegates():
    version_problem = FilterModule().filters()["version_problem"]
    assert version_problem("1.2.3") == ""
    assert "not a valid image tag" in version_problem("1.2.3 ")

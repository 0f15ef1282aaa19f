"""The summary callback keeps the code Jinja compiles each template into, so that a worker (or a later
run) loads it instead of compiling the template again. Each run is a fresh Python, as each
ansible-playbook is."""
import os

import jinja2
import pytest
from jinja2.utils import pass_context

from ansible_collections.nextgen.rollout.plugins.plugin_utils._template_cache import plugins_used, still_valid
from support.fresh_python import run_script

# Templates and conditions as playbooks hold them: plain, with a filter and a test, with backslashes
# (which ansible-core escapes in expressions only), and one whose first line changes Jinja's syntax.
TEMPLATES = ["{{ service | upper }}-{{ share + 1 }}", "{{ 'a\\\\b' }} {{ service | regex_replace('-', '\\\\1') }}",
             "#jinja2:variable_start_string:'[[', variable_end_string:']]'\n[[ service ]] {{ share }}",
             "{{ [share, 3] | max }}"]
CONDITIONS = ["share > 10 and service is string", "service | length == 10", "share is divisibleby 5"]
SCRIPT = """
import json, os, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible_collections.nextgen.rollout.plugins.plugin_utils import _template_cache
installed = _template_cache.install(os.environ.get("CACHE_DIR"))
import jinja2.environment
generated = []
generate = jinja2.environment.Environment._generate
def counted(self, *args, **kwargs):
    generated.append(1)
    return generate(self, *args, **kwargs)
jinja2.environment.Environment._generate = counted
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
templar = Templar(loader=DataLoader(), variables={"service": "agent-loop", "share": 25})
rendered = [templar.template(trust_as_template(text)) for text in %r]
conditions = [templar.evaluate_conditional(trust_as_template(text)) for text in %r]
print(json.dumps({"installed": installed, "rendered": rendered, "conditions": conditions, "compiled": len(generated)}))
""" % (TEMPLATES, CONDITIONS)


def run(directory, switch="on"):
    return run_script(SCRIPT, {"CACHE_DIR": str(directory), "NEXTGEN_ROLLOUT_TEMPLATE_CACHE": switch})[0]


def test_a_template_compiled_in_one_run_is_loaded_not_compiled_in_the_next_with_the_same_result(tmp_path):
    directory = tmp_path / "templates"
    plain = run(directory, switch="off")
    first, second = run(directory), run(directory)
    assert plain["installed"] is False and first["installed"] is True
    assert plain["rendered"] == ["AGENT-LOOP-26", "a\\\\b agent\\1loop", "agent-loop {{ share }}", 25]
    assert plain["conditions"] == [True, True, True]
    for kept in (first, second):
        assert (kept["rendered"], kept["conditions"]) == (plain["rendered"], plain["conditions"])
    assert first["compiled"] >= len(TEMPLATES) + len(CONDITIONS)
    assert second["compiled"] == 0
    assert oct(os.stat(str(directory)).st_mode & 0o777) == "0o700"
    assert all(oct(os.stat(str(path)).st_mode & 0o777) == "0o600" for path in directory.iterdir())


def test_a_directory_others_can_write_in_is_not_used(tmp_path):
    directory = tmp_path / "templates"
    directory.mkdir()
    directory.chmod(0o777)
    shared = run(directory)
    assert shared["installed"] is False and shared["rendered"][0] == "AGENT-LOOP-26"
    assert list(directory.iterdir()) == []


def test_a_filter_that_now_takes_the_context_is_compiled_again():
    environment = jinja2.Environment()
    environment.filters["shout"] = lambda value: value.upper()
    used = plugins_used(environment, environment.parse("{% if x is defined %}{{ x | shout }}{% endif %}"))
    assert used == [("filter", "shout", ""), ("test", "defined", "")]
    assert still_valid(environment, used)
    environment.filters["shout"] = pass_context(lambda context, value: value.upper())
    assert not still_valid(environment, used)
    del environment.filters["shout"]
    assert not still_valid(environment, used)


@pytest.mark.parametrize("switch", ["off", "OFF", "0", "false", "no"])
def test_the_environment_turns_it_off(tmp_path, switch):
    assert run(tmp_path / "templates", switch)["installed"] is False
    assert not (tmp_path / "templates").exists()

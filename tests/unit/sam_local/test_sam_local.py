"""The pure parts of `make sam-local`: image cache key, derived template, answer comparison, the doc's
commands and the samples' functions. The container run itself is `make sam-local`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sam_local import base_image, cases, compare, doc, template

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = (ROOT / "template.yaml").read_text(encoding="utf-8")


def test_cache_key_is_stable_and_changes_with_what_goes_into_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = base_image.cache_key("x86_64")
    assert key == base_image.cache_key("x86_64")
    assert key != base_image.cache_key("arm64")
    monkeypatch.setattr(base_image, "RUNTIME_CLIENT", "awslambdaric==0.0.1")
    assert base_image.cache_key("x86_64") != key
    monkeypatch.undo()
    monkeypatch.setattr(base_image, "BOOTSTRAP", base_image.BOOTSTRAP + "# changed\n")
    assert base_image.cache_key("x86_64") != key


def test_the_dockerfile_labels_the_image_with_its_key() -> None:
    text = base_image.dockerfile("arm64")
    assert text.startswith("FROM scratch\n")
    assert f'{base_image.KEY_LABEL}="{base_image.cache_key("arm64")}"' in text
    assert base_image.image_name("arm64") == "public.ecr.aws/lambda/python:3.13-arm64"


def test_bootstrap_keeps_lambdas_module_search_order() -> None:
    assert "PYTHONPATH=/var/task:/opt/python:/var/runtime" in base_image.BOOTSTRAP


def test_x86_64_template_changes_only_architecture_layer_and_paths(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    derived = template.derive_template(
        TEMPLATE, template.Derivation("x86_64", layer_dir=layer, base_dir=ROOT)
    )
    assert template.architectures_of(derived) == ["x86_64"]
    assert f"ContentUri: {layer}" in derived
    assert f"CodeUri: {ROOT / 'functions' / 'connector'}" in derived
    assert "BuildMethod" not in derived and "arm64" not in derived
    assert template.timeouts_of(derived) == template.timeouts_of(TEMPLATE)
    # Nothing else changed: the environment the deployed function gets stays as strict.
    assert 'ALLOW_LOOPBACK_DEVICE_CLOUDS: "false"' in derived
    assert len(derived.splitlines()) == len(TEMPLATE.splitlines()) - 4  # the layer's Metadata block


def test_arm64_template_raises_timeouts_only_upwards() -> None:
    derived = template.derive_template(TEMPLATE, template.Derivation("arm64", min_timeout=120))
    assert template.architectures_of(derived) == ["arm64"]
    assert template.timeouts_of(derived) == [max(t, 120) for t in template.timeouts_of(TEMPLATE)]
    assert "BuildMethod: makefile" in derived


def test_the_built_templates_block_lists_are_derived_like_the_sources_flow_lists() -> None:
    # GIVEN a template as `sam build` writes it: Architectures as a block list of one item
    built = (
        "Globals:\n  Function:\n    Architectures:\n    - arm64\n    Timeout: 10\n"
        "Resources:\n  SharedLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n"
        "      ContentUri: SharedLayer\n      CompatibleArchitectures:\n      - arm64\n"
        "      RetentionPolicy: Delete\n"
    )

    # WHEN it is derived for x86_64
    derived = template.derive_template(built, template.Derivation("x86_64", min_timeout=120))

    # THEN both lists name the new architecture, in the source's one-line form, and nothing else moved
    assert template.architectures_of(derived) == ["x86_64"]
    assert "      CompatibleArchitectures: [x86_64]\n      RetentionPolicy: Delete\n" in derived
    assert "- arm64" not in derived
    assert template.timeouts_of(derived) == [120]


def test_a_block_list_of_two_architectures_is_not_rewritten() -> None:
    two = "Globals:\n  Function:\n    Architectures:\n    - arm64\n    - x86_64\n"

    with pytest.raises(template.DerivationError):
        template.derive_template(two, template.Derivation("x86_64"))


def test_derivation_fails_on_a_template_without_architectures() -> None:
    with pytest.raises(template.DerivationError):
        template.derive_template("Resources: {}\n", template.Derivation("x86_64"))
    with pytest.raises(template.DerivationError):
        template.derive_template(TEMPLATE, template.Derivation("sparc"))


def test_layer_makefile_for_x86_64() -> None:
    text = (ROOT / "layers" / "shared" / "Makefile").read_text(encoding="utf-8")
    derived = template.derive_layer_makefile(text, "x86_64")
    assert "manylinux2014_x86_64" in derived and "aarch64" not in derived
    with pytest.raises(template.DerivationError):
        template.derive_layer_makefile("build:\n\ttrue\n", "x86_64")


def test_answers_compare_as_a_caller_sees_them() -> None:
    sam = {"statusCode": 202, "headers": {"content-type": "application/json"}, "body": '{"queued":1}'}
    assert compare.compare({"statusCode": 202, "body": {"queued": 1}}, sam) == []
    assert compare.compare({"statusCode": 422, "body": {"queued": 1}}, sam) == ["$.statusCode: 422 != 202"]


def test_function_errors_compare_by_type_and_message() -> None:
    sam = {"errorType": "PlanError", "errorMessage": "bad", "requestId": "r-1", "stackTrace": ["x"]}
    local = {"functionError": "Unhandled", "payload": {"errorType": "PlanError", "errorMessage": "bad"}}
    assert compare.compare(local, sam) == []
    assert compare.compare(local, {**sam, "errorMessage": "other"}) != []


def test_per_run_values_are_ignored_and_nothing_else() -> None:
    one = {
        "runId": "a",
        "report": {"reset": 3, "startedAt": 1},
        "note": "run 0b7f6a3c-1111-2222-3333-444455556666",
    }
    two = {
        "runId": "b",
        "report": {"reset": 3, "startedAt": 2},
        "note": "run 9b7f6a3c-1111-2222-3333-444455556666",
    }
    assert compare.compare(one, two) == []
    assert compare.compare(one, {**two, "report": {"reset": 4, "startedAt": 2}}) == ["$.report.reset: 3 != 4"]


def test_sam_output_is_read_from_its_last_json_line() -> None:
    assert compare.parse_sam_output('START\n{"a": 1}\n') == {"a": 1}
    with pytest.raises(compare.AnswerError):
        compare.parse_sam_output("no answer\n")


def test_the_doc_has_every_block_the_run_runs() -> None:
    blocks = doc.read_blocks()
    invoke = blocks["invoke"]
    assert invoke.startswith(
        '.venv-sam/bin/sam local invoke "$FUNCTION" --template "$TEMPLATE" --event "$EVENT"'
    )
    for block in (invoke, blocks["start-lambda"]):
        assert "--env-vars events/env.json" in block and "--skip-pull-image" in block
        assert "--add-host host.docker.internal:host-gateway" in block


def test_doc_blocks_are_checked() -> None:
    with pytest.raises(doc.DocError, match="no block"):
        doc.required_blocks("nothing\n")
    text = "".join(f"<!-- sam-local: {name} -->\n```bash\necho $OTHER\n```\n" for name in doc.BLOCKS)
    with pytest.raises(doc.DocError, match="OTHER"):
        doc.required_blocks(text)


def test_every_sample_has_one_function_and_deactivation_comes_last(tmp_path: Path) -> None:
    handlers = {
        "WebhookReceiverFunction": "webhook_receiver.lambda_handler",
        "ForwarderFunction": "forwarder.lambda_handler",
        "DetectorResetFunction": "detector_reset.lambda_handler",
        "ConnectorFunction": "connector.lambda_handler",
    }
    names = [p.name for p in (ROOT / "events").glob("*.json")]
    planned = cases.plan_cases(names, handlers, events_dir=ROOT / "events", fresh_dir=tmp_path)
    assert len(planned) == len(names) - 1  # all but env.json
    connector = [c.sample for c in planned if c.function == "ConnectorFunction"]
    assert len(connector) == 7 and connector[-1] == "connector-deactivate-user.json"
    assert all(c.event.parent == tmp_path for c in planned if c.sample.startswith("webhook-aerie-sensors-"))
    lanes = cases.lanes(planned)
    lights = [c.sample for c in lanes["connector"]]
    assert lights.index("connector-activate-user-oauth.json") > max(
        i for i, s in enumerate(lights) if s.startswith("webhook-lumen-home-")
    )
    assert sum(len(group) for group in lanes.values()) == len(planned)
    with pytest.raises(cases.CasesError, match="mystery"):
        cases.plan_cases(["mystery.json"], handlers, events_dir=tmp_path, fresh_dir=tmp_path)


def test_env_json_sets_only_local_endpoints_and_the_deployed_default_stays_strict() -> None:
    env = json.loads((ROOT / "events" / "env.json").read_text(encoding="utf-8"))
    assert env["ConnectorFunction"]["ALLOW_LOOPBACK_DEVICE_CLOUDS"] == "true"
    assert 'ALLOW_LOOPBACK_DEVICE_CLOUDS: "false"' in TEMPLATE

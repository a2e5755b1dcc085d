"""Model specs: parsing, strict validation with located errors, compilation and round trips."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import yaml

from freeagentics.domain.models import (
    ModelCaps,
    ModelValidationError,
    compile_mapping,
    compile_spec,
    spec_from_compiled,
    spec_from_mapping,
    spec_to_mapping,
    tmaze,
)


def two_factor_document() -> dict[str, object]:
    """A small valid document: a controllable 2-state location and an uncontrolled 2-state context."""
    return {
        "version": 1,
        "name": "bandit",
        "description": "Two arms.\nOne pays.",
        "policy_len": 2,
        "factors": [
            {
                "name": "arm",
                "states": ["left", "right"],
                "actions": ["stay", "switch"],
                "transitions": [[0, 1], ["right", "left"]],
                "D": [1.0, 0.0],
            },
            {"name": "context", "states": ["left_pays", "right_pays"], "pD": {"flat": 1.0}},
        ],
        "modalities": [
            {
                "name": "position",
                "observations": ["left", "right"],
                "depends_on": ["arm"],
                "A": [[1.0, 0.0], [0.0, 1.0]],
            },
            {
                "name": "payout",
                "observations": ["nothing", "coin"],
                "A": [[[0.1, 0.9], [0.9, 0.1]], [[0.9, 0.1], [0.1, 0.9]]],
                "C": [0.0, 2.0],
                "pA": {"scale": 4.0},
            },
        ],
    }


def issues_of(document: object, caps: ModelCaps | None = None) -> list[dict[str, object]]:
    with pytest.raises(ModelValidationError) as info:
        spec_from_mapping(document, caps or ModelCaps())
    return info.value.as_dicts()


def test_valid_document_compiles_to_the_described_tensors() -> None:
    model = compile_mapping(two_factor_document())

    assert model.num_states == (2, 2)
    assert model.num_controls == (2, 1)
    assert model.num_obs == (2, 2)
    assert model.control_factors == (0,)
    assert model.A_factor_list == ((0,), (0, 1))
    assert model.policy_len == 2
    assert model.num_policies == 4
    # transitions[u][s] = next state: "switch" swaps the arms.
    np.testing.assert_array_equal(model.B[0][:, :, 1], [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(model.B[0][:, :, 0], np.eye(2))
    np.testing.assert_array_equal(model.B[1][:, :, 0], np.eye(2))  # uncontrolled default: identity
    np.testing.assert_array_equal(model.C[0], [0.0, 0.0])
    np.testing.assert_array_equal(model.D[1], [0.5, 0.5])
    assert model.pA is not None
    assert model.pA[0] is None
    np.testing.assert_allclose(model.pA[1], 4.0 * model.A[1])  # type: ignore[operator]
    assert model.pB is None
    assert model.pD is not None
    assert model.pD[0] is None
    np.testing.assert_array_equal(model.pD[1], [1.0, 1.0])  # type: ignore[arg-type]
    assert model.factor_names == ("arm", "context")
    assert model.action_names == (("stay", "switch"), ())
    assert model.observation_names[1] == ("nothing", "coin")
    assert model.metadata["name"] == "bandit"


def test_counts_without_the_tensor_give_the_normalised_counts() -> None:
    document = two_factor_document()
    document["factors"][0] = {  # type: ignore[index]
        "name": "arm",
        "states": ["left", "right"],
        "actions": ["stay", "switch"],
        "pB": {"flat": 2.0},
    }
    del document["modalities"][0]["A"]  # type: ignore[index]
    document["modalities"][0]["pA"] = [[3.0, 1.0], [1.0, 3.0]]  # type: ignore[index]

    model = compile_mapping(document)

    np.testing.assert_allclose(model.B[0], np.full((2, 2, 2), 0.5))
    np.testing.assert_allclose(model.pB[0], np.full((2, 2, 2), 2.0))  # type: ignore[index,arg-type]
    np.testing.assert_allclose(model.A[0], [[0.75, 0.25], [0.25, 0.75]])


@pytest.mark.parametrize("dump", ["json", "yaml"])
def test_document_round_trips_through_json_and_yaml(dump: str) -> None:
    spec = spec_from_mapping(two_factor_document())
    mapping = spec_to_mapping(spec)
    text = json.dumps(mapping) if dump == "json" else yaml.safe_dump(mapping)
    reparsed = json.loads(text) if dump == "json" else yaml.safe_load(text)

    again = spec_from_mapping(reparsed)

    assert spec_to_mapping(again) == mapping
    first, second = compile_spec(spec), compile_spec(again)
    for x, y in zip(
        first.A + first.B + first.C + first.D, second.A + second.B + second.C + second.D, strict=True
    ):
        np.testing.assert_array_equal(x, y)


def test_compiled_model_written_as_spec_compiles_back_to_the_same_model() -> None:
    model = compile_mapping(two_factor_document())

    again = compile_spec(
        spec_from_mapping(json.loads(json.dumps(spec_to_mapping(spec_from_compiled(model)))))
    )

    assert again.A_factor_list == model.A_factor_list
    assert again.control_factors == model.control_factors
    for x, y in zip(
        model.A + model.B + model.C + model.D, again.A + again.B + again.C + again.D, strict=True
    ):
        np.testing.assert_array_equal(x, y)
    assert spec_to_mapping(spec_from_compiled(model))["factors"][0]["transitions"] == [[0, 1], [1, 0]]  # type: ignore[index]


def mutate(path: list[object], value: object) -> dict[str, object]:
    document = copy.deepcopy(two_factor_document())
    node: object = document
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    return document


# Each case: where to put the bad value, the value, the loc the error must name, its type, and its index.
MALFORMED = [
    (["modalities", 1, "A", 0, 1, 0], -0.1, ["modalities", 1, "A"], "negative", [0, 1, 0]),
    (["modalities", 1, "A", 0, 1, 0], 0.2, ["modalities", 1, "A"], "not_normalised", [None, 1, 0]),
    (["modalities", 1, "A", 1, 0, 1], math.nan, ["modalities", 1, "A"], "not_finite", [1, 0, 1]),
    (["modalities", 1, "A", 1, 0, 1], math.inf, ["modalities", 1, "A"], "not_finite", [1, 0, 1]),
    (["modalities", 1, "A", 1, 0, 1], "0.1", ["modalities", 1, "A"], "not_numeric", [1, 0, 1]),
    (["modalities", 1, "A", 1, 0, 1], True, ["modalities", 1, "A"], "not_numeric", [1, 0, 1]),
    (["modalities", 1, "A", 1, 0, 1], None, ["modalities", 1, "A"], "not_numeric", [1, 0, 1]),
    (["modalities", 1, "A", 1, 0], [0.9, 0.1, 0.0], ["modalities", 1, "A"], "shape_mismatch", [1, 0]),
    (["modalities", 1, "A", 1], [[0.9, 0.1]], ["modalities", 1, "A"], "shape_mismatch", [1]),
    (["modalities", 0, "A"], [[1.0, 0.0]], ["modalities", 0, "A"], "shape_mismatch", []),
    (["modalities", 1, "C"], [0.0, 1.0, 2.0], ["modalities", 1, "C"], "shape_mismatch", []),
    (["modalities", 1, "C", 1], math.inf, ["modalities", 1, "C"], "not_finite", [1]),
    (["factors", 0, "D"], [0.7, 0.7], ["factors", 0, "D"], "not_normalised", None),
    (["factors", 0, "D", 1], -0.5, ["factors", 0, "D"], "negative", [1]),
    (["factors", 0, "transitions", 1, 0], 2, ["factors", 0, "transitions"], "out_of_range", [1, 0]),
    (["factors", 0, "transitions", 1, 0], "nowhere", ["factors", 0, "transitions"], "out_of_range", [1, 0]),
    (["factors", 0, "transitions", 1], [0], ["factors", 0, "transitions"], "shape_mismatch", [1]),
    (["factors", 1, "pD"], [1.0, -1.0], ["factors", 1, "pD"], "negative", [1]),
    (["factors", 1, "pD"], [0.0, 0.0], ["factors", 1, "pD"], "invalid_value", None),
    (["factors", 1, "pD"], {"flat": 0}, ["factors", 1, "pD", "flat"], "invalid_value", None),
    (["factors", 1, "pD"], {"flat": 1, "scale": 2}, ["factors", 1, "pD"], "invalid_value", None),
    (["factors", 1, "pD"], {"counts": 1}, ["factors", 1, "pD", "counts"], "extra_forbidden", None),
    (["factors", 0, "name"], "a\x00b", ["factors", 0, "name"], "invalid_name", None),
    (["factors", 0, "name"], "tab\there", ["factors", 0, "name"], "invalid_name", None),
    (["factors", 0, "name"], "", ["factors", 0, "name"], "invalid_name", None),
    (["factors", 0, "name"], " padded", ["factors", 0, "name"], "invalid_name", None),
    (["factors", 0, "name"], 7, ["factors", 0, "name"], "type_error", None),
    (["factors", 0, "states"], ["x", "x"], ["factors", 0, "states", 1], "duplicate_name", None),
    (["factors", 0, "actions", 1], "zero\u200bwidth", ["factors", 0, "actions", 1], "invalid_name", None),
    (["factors", 1, "name"], "arm", ["factors", 1], "duplicate_name", None),
    (["modalities", 1, "name"], "position", ["modalities", 1], "duplicate_name", None),
    (["modalities", 0, "depends_on"], ["nope"], ["modalities", 0, "depends_on", 0], "invalid_value", None),
    (
        ["modalities", 1, "depends_on"],
        ["context", "arm"],
        ["modalities", 1, "depends_on", 1],
        "invalid_value",
        None,
    ),
    (["factors", 0, "bogus"], 1, ["factors", 0, "bogus"], "extra_forbidden", None),
    (["bogus"], 1, ["bogus"], "extra_forbidden", None),
    (["policy_len"], 0, ["policy_len"], "invalid_value", None),
    (["policy_len"], 1.5, ["policy_len"], "invalid_value", None),
    (["policy_len"], True, ["policy_len"], "invalid_value", None),
    (["version"], 2, ["version"], "invalid_value", None),
    (["description"], "bell\x07", ["description"], "invalid_value", None),
    (["E"], [0.5, 0.5], ["E"], "shape_mismatch", []),
    (["E"], [0.25, 0.25, 0.25, 0.3], ["E"], "not_normalised", None),
    (["factors"], [], ["factors"], "type_error", None),
    (["modalities"], "none", ["modalities"], "type_error", None),
]


@pytest.mark.parametrize(("path", "value", "loc", "type_", "index"), MALFORMED)
def test_malformed_document_is_rejected_with_an_error_naming_the_tensor_and_index(
    path: list[object], value: object, loc: list[object], type_: str, index: list[object] | None
) -> None:
    issues = issues_of(mutate(path, value))

    matching = [i for i in issues if i["loc"] == loc and i["type"] == type_]
    assert matching, issues
    if index is not None:
        assert matching[0].get("index", []) == index, matching[0]
    # The message alone tells a reader where the problem is.
    rendered = str(loc[0]) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
    assert str(matching[0]["msg"]).startswith(rendered)


def test_every_problem_is_reported_at_once() -> None:
    document = mutate(["modalities", 1, "A", 0, 1, 0], -0.1)
    document["factors"][0]["D"] = [0.2, 0.2]  # type: ignore[index]
    document["modalities"][0]["extra"] = True  # type: ignore[index]

    locs = {tuple(i["loc"]) for i in issues_of(document)}  # type: ignore[arg-type]

    assert {("modalities", 1, "A"), ("factors", 0, "D"), ("modalities", 0, "extra")} <= locs


def test_missing_fields_are_named() -> None:
    document = two_factor_document()
    del document["factors"][0]["transitions"]  # type: ignore[index]
    del document["modalities"][1]["A"]  # type: ignore[index]
    del document["modalities"][1]["pA"]  # type: ignore[index]
    del document["modalities"][0]["observations"]  # type: ignore[index]

    found = {(tuple(i["loc"]), i["type"]) for i in issues_of(document)}  # type: ignore[arg-type]

    assert (("factors", 0, "B"), "missing") in found
    assert (("modalities", 1, "A"), "missing") in found
    assert (("modalities", 0, "observations"), "missing") in found


def test_both_b_and_transitions_is_ambiguous() -> None:
    document = mutate(["factors", 0, "B"], np.repeat(np.eye(2)[:, :, None], 2, axis=2).tolist())

    assert {"loc": ["factors", 0], "type": "invalid_value"}.items() <= issues_of(document)[0].items()


def test_non_mapping_root_and_non_string_keys_are_rejected() -> None:
    assert issues_of([1, 2])[0]["type"] == "type_error"
    document = two_factor_document()
    document[3] = "x"  # type: ignore[index]
    assert any(i["type"] == "extra_forbidden" and i["loc"] == ["3"] for i in issues_of(document))


@pytest.mark.parametrize(
    ("caps", "loc"),
    [
        (ModelCaps(max_states_per_factor=1), ["factors", 0, "states"]),
        (ModelCaps(max_observations_per_modality=1), ["modalities", 0, "observations"]),
        (ModelCaps(max_factors=1), ["factors"]),
        (ModelCaps(max_modalities=1), ["modalities"]),
        (ModelCaps(max_controls_per_factor=1), ["factors", 0, "actions"]),
        (ModelCaps(max_policies=3), ["policies"]),
        (ModelCaps(max_policy_len=1), ["policy_len"]),
        (ModelCaps(max_tensor_bytes=100), []),
    ],
)
def test_models_over_the_caps_are_refused(caps: ModelCaps, loc: list[object]) -> None:
    issues = issues_of(two_factor_document(), caps)

    assert any(i["type"] == "too_large" and i["loc"] == loc for i in issues), issues


def test_caps_are_checked_before_tensors_are_read() -> None:
    # A huge declared size with a tensor that is not even a list: the cap is what gets reported.
    states = [f"s{i}" for i in range(5000)]
    document = {
        "factors": [{"name": "big", "states": states, "actions": ["a"], "B": "not a tensor"}],
        "modalities": [{"name": "o", "observations": ["x"], "A": "not a tensor"}],
    }

    issues = issues_of(document)

    assert [i["type"] for i in issues] == ["too_large"]


def test_bytes_cap_counts_dense_b_of_transition_tables() -> None:
    states = [f"s{i}" for i in range(300)]
    document = {
        "factors": [
            {"name": "f", "states": states, "actions": ["a", "b"], "transitions": [list(range(300))] * 2}
        ],
        "modalities": [{"name": "o", "observations": ["x"], "A": [[1.0] * 300]}],
    }

    # Dense B: 300 * 300 * 2 * 8 bytes = 1.44 MB.
    assert compile_mapping(document).B[0].nbytes == 300 * 300 * 2 * 8
    issues = issues_of(document, ModelCaps(max_tensor_bytes=1_000_000))
    assert issues[0]["type"] == "too_large"


def test_explicit_policies_are_checked() -> None:
    document = two_factor_document()
    document["policy_len"] = 1
    document["policies"] = [[[0, 0]], [[1, 0]]]
    document["E"] = [0.25, 0.75]
    model = compile_mapping(document)
    assert model.num_policies == 2
    np.testing.assert_array_equal(model.policy_table()[:, 0, 0], [0, 1])

    for bad, index in (([[[0, 1]]], [0, 0, 1]), ([[[2, 0]]], [0, 0, 0]), ([[[0.5, 0]]], [0, 0, 0])):
        document["policies"] = bad
        del document["E"]
        issue = next(i for i in issues_of(document) if i["loc"] == ["policies"])
        assert issue["type"] == "out_of_range"
        assert issue["index"] == index
        document["E"] = [1.0]


TMAZE_YAML = """
name: t-maze
description: pymdp's classic T-maze, written by hand.
factors:
  - name: location
    states: [centre, left_arm, right_arm, cue]
    actions: [go_centre, go_left_arm, go_right_arm, go_cue]
    transitions:              # transitions[action][state]: every action leads to its location
      - [centre, centre, centre, centre]
      - [left_arm, left_arm, left_arm, left_arm]
      - [right_arm, right_arm, right_arm, right_arm]
      - [cue, cue, cue, cue]
    D: [1, 0, 0, 0]
  - name: context
    states: [reward_left, reward_right]
modalities:
  - name: location
    observations: [centre, left_arm, right_arm, cue]
    A:                        # A[o][location][context]
      - [[1, 1], [0, 0], [0, 0], [0, 0]]
      - [[0, 0], [1, 1], [0, 0], [0, 0]]
      - [[0, 0], [0, 0], [1, 1], [0, 0]]
      - [[0, 0], [0, 0], [0, 0], [1, 1]]
  - name: reward
    observations: [no_reward, reward, loss]
    A:
      - [[1, 1], [0, 0], [0, 0], [1, 1]]
      - [[0, 0], [0.98, 0.02], [0.02, 0.98], [0, 0]]
      - [[0, 0], [0.02, 0.98], [0.98, 0.02], [0, 0]]
    C: [0, 3, -3]
  - name: cue
    observations: [cue_left, cue_right]
    A:
      - [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [1, 0]]
      - [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0, 1]]
"""


def test_hand_written_yaml_document_equals_the_tmaze_template() -> None:
    model = compile_mapping(yaml.safe_load(TMAZE_YAML))
    template = tmaze()

    for ours, theirs in zip(
        model.A + model.B + model.C + model.D, template.A + template.B + template.C + template.D, strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)
    assert model.A_factor_list == template.A_factor_list
    assert model.control_factors == template.control_factors
    assert model.observation_names == template.observation_names

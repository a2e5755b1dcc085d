"""Property tests: random valid documents compile and round-trip; every corruption is located exactly."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from freeagentics.domain.models import (
    ModelValidationError,
    compile_arrays,
    compile_mapping,
    compile_spec,
    get_template,
    spec_from_compiled,
    spec_from_mapping,
    spec_to_mapping,
)

Document = dict[str, Any]


def _normalised(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # Some exact zeros, as real models have them, but never a zero column.
    x = rng.random(shape) * (rng.random(shape) > 0.3)
    x[0] += 1e-3
    return x / x.sum(axis=0, keepdims=True)


@st.composite
def documents(draw: st.DrawFn) -> Document:
    """A valid spec document with 1-3 factors and 1-3 modalities, in plain JSON types."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    num_factors = draw(st.integers(1, 3))
    factors: list[dict[str, Any]] = []
    for f in range(num_factors):
        ns = draw(st.integers(1, 4))
        factor: dict[str, Any] = {"name": f"factor {f}", "states": [f"s{f}.{i}" for i in range(ns)]}
        controllable = draw(st.booleans())
        if controllable:
            nu = draw(st.integers(1, 3))
            factor["actions"] = [f"act{i}" for i in range(nu)]
        nu = len(factor.get("actions", [None]))
        kind = draw(st.sampled_from(["B", "transitions", "default" if not controllable else "B"]))
        if kind == "B":
            factor["B"] = _normalised(rng, (ns, ns, nu)).tolist()
        elif kind == "transitions":
            factor["transitions"] = rng.integers(0, ns, size=(nu, ns)).tolist()
        if draw(st.booleans()):
            factor["D"] = _normalised(rng, (ns,)).tolist()
        if draw(st.booleans()):
            factor["pB"] = {"flat": float(draw(st.floats(0.1, 10)))}
        factors.append(factor)
    modalities: list[dict[str, Any]] = []
    for m in range(draw(st.integers(1, 3))):
        deps = sorted(draw(st.sets(st.integers(0, num_factors - 1), min_size=1)))
        no = draw(st.integers(1, 4))
        shape = (no, *(len(factors[f]["states"]) for f in deps))
        modality: dict[str, Any] = {
            "name": f"modality {m}",
            "observations": [f"o{m}.{i}" for i in range(no)],
            "depends_on": [factors[f]["name"] for f in deps],
            "A": _normalised(rng, shape).tolist(),
        }
        if draw(st.booleans()):
            modality["C"] = rng.normal(size=no).tolist()
        if draw(st.booleans()):
            modality["pA"] = {"scale": float(draw(st.floats(0.1, 10)))}
        modalities.append(modality)
    return {"policy_len": draw(st.integers(1, 2)), "factors": factors, "modalities": modalities}


def tensor_paths(document: Document) -> list[tuple[list[Any], str]]:
    """(path to a nested-list tensor, what it is) for every probability tensor in the document."""
    paths: list[tuple[list[Any], str]] = []
    for f, factor in enumerate(document["factors"]):
        paths.extend((["factors", f, key], key) for key in ("B", "D") if key in factor)
    for m, modality in enumerate(document["modalities"]):
        paths.append((["modalities", m, "A"], "A"))
        if "C" in modality:
            paths.append((["modalities", m, "C"], "C"))
    return paths


def get(document: Document, path: list[Any]) -> Any:
    node: Any = document
    for key in path:
        node = node[key]
    return node


def issues_of(document: Any) -> list[dict[str, Any]]:
    try:
        spec_from_mapping(document)
    except ModelValidationError as error:
        return error.as_dicts()
    raise AssertionError("the corrupted document was accepted")


@settings(max_examples=60, deadline=None)
@given(documents())
def test_valid_documents_compile_and_round_trip_through_json_and_yaml(document: Document) -> None:
    model = compile_mapping(document)
    mapping = spec_to_mapping(spec_from_mapping(document))

    for text, load in ((json.dumps(mapping), json.loads), (yaml.safe_dump(mapping), yaml.safe_load)):
        reparsed = load(text)
        assert spec_to_mapping(spec_from_mapping(reparsed)) == mapping
        again = compile_mapping(reparsed)
        for x, y in zip(
            model.A + model.B + model.C + model.D, again.A + again.B + again.C + again.D, strict=True
        ):
            np.testing.assert_array_equal(x, y)
    # A compiled model written back as a spec describes the same tensors.
    rewritten = compile_spec(spec_from_compiled(model))
    for x, y in zip(model.A + model.B + model.D, rewritten.A + rewritten.B + rewritten.D, strict=True):
        np.testing.assert_array_equal(x, y)
    assert rewritten.num_policies == model.num_policies


CORRUPTIONS = [
    "negative",
    "nan",
    "inf",
    "string",
    "boolean",
    "null",
    "perturb",
    "drop",
    "extra",
    "scalar_row",
]


@settings(max_examples=100, deadline=None)
@given(documents(), st.data())
def test_every_corrupted_tensor_is_rejected_naming_the_tensor_and_index(
    document: Document, data: st.DataObject
) -> None:
    path, kind = data.draw(st.sampled_from(tensor_paths(document)))
    corruption = data.draw(st.sampled_from(CORRUPTIONS))
    tensor = np.asarray(get(document, path), dtype=np.float64)
    index = tuple(data.draw(st.integers(0, n - 1)) for n in tensor.shape)
    bad = copy.deepcopy(document)
    parent = get(bad, [*path, *index[:-1]])
    last = index[-1]
    expected_type: set[str]
    expected_index: list[Any] | None = list(index)
    if corruption == "negative":
        parent[last] = -0.5
        expected_type = {"not_finite"} if kind == "C" else {"negative"}
        if kind == "C":
            return  # C is any real log-preference: a negative entry is valid
    elif corruption in ("nan", "inf"):
        parent[last] = math.nan if corruption == "nan" else -math.inf
        expected_type = {"not_finite"}
    elif corruption in ("string", "boolean", "null"):
        parent[last] = {"string": "0.5", "boolean": True, "null": None}[corruption]
        expected_type = {"not_numeric"}
    elif corruption == "perturb":
        if kind == "C":
            return  # log-preferences need not sum to anything
        parent[last] = parent[last] + 0.25
        expected_type = {"not_normalised"}
        expected_index = None if tensor.ndim == 1 else [None, *index[1:]]
    elif corruption == "drop":
        parent.pop()
        expected_type = {"shape_mismatch"}
        expected_index = list(index[:-1])
    elif corruption == "extra":
        parent.append(0.0)
        expected_type = {"shape_mismatch"}
        expected_index = list(index[:-1])
    else:  # scalar_row: a number where a list belongs (or a list where a number belongs, for vectors)
        if tensor.ndim == 1:
            parent[last] = [parent[last]]
            expected_type = {"not_numeric"}
        else:
            grandparent = get(bad, [*path, *index[:-2]])
            grandparent[index[-2]] = 0.5
            expected_type = {"shape_mismatch"}
            expected_index = list(index[:-1])

    issues = issues_of(bad)

    located = [i for i in issues if i["loc"] == path]
    assert located, issues
    assert located[0]["type"] in expected_type, located
    if expected_index is not None:
        assert located[0].get("index") == expected_index, located
    rendered = f"{path[0]}[{path[1]}].{path[2]}"
    assert located[0]["msg"].startswith(rendered)


@settings(max_examples=100, deadline=None)
@given(documents(), st.data())
def test_every_bad_name_is_rejected_at_its_location(document: Document, data: st.DataObject) -> None:
    candidates: list[list[Any]] = []
    for f, factor in enumerate(document["factors"]):
        candidates.append(["factors", f, "name"])
        candidates += [["factors", f, "states", i] for i in range(len(factor["states"]))]
        candidates += [["factors", f, "actions", i] for i in range(len(factor.get("actions", [])))]
    for m, modality in enumerate(document["modalities"]):
        candidates.append(["modalities", m, "name"])
        candidates += [["modalities", m, "observations", i] for i in range(len(modality["observations"]))]
    path = data.draw(st.sampled_from(candidates))
    bad_char = data.draw(st.sampled_from(["\x00", "\x1b", "\n", "\u200b", "\ud800", "\x7f"]))
    bad = copy.deepcopy(document)
    parent = get(bad, path[:-1])
    original = parent[path[-1]]
    position = data.draw(st.integers(0, len(original)))
    parent[path[-1]] = original[:position] + bad_char + original[position:]

    issues = issues_of(bad)

    assert any(i["loc"] == path and i["type"] == "invalid_name" for i in issues), issues


@st.composite
def pymdp_arrays(draw: st.DrawFn) -> dict[str, Any]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    num_states = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    num_controls = [draw(st.integers(1, 3)) for _ in num_states]
    num_obs = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    return {
        "A": [_normalised(rng, (no, *num_states)) for no in num_obs],
        "B": [_normalised(rng, (ns, ns, nu)) for ns, nu in zip(num_states, num_controls, strict=True)],
        "C": [rng.normal(size=no) for no in num_obs],
        "D": [_normalised(rng, (ns,)) for ns in num_states],
        "policy_len": draw(st.integers(1, 2)),
    }


@settings(max_examples=80, deadline=None)
@given(pymdp_arrays(), st.data())
def test_pymdp_arrays_compile_and_corruptions_name_the_array(
    arrays: dict[str, Any], data: st.DataObject
) -> None:
    model = compile_arrays(**arrays)
    for x, y in zip(model.A + model.B, arrays["A"] + arrays["B"], strict=True):
        np.testing.assert_array_equal(x, y)

    name = data.draw(st.sampled_from(["A", "B", "D"]))
    which = data.draw(st.integers(0, len(arrays[name]) - 1))
    target = arrays[name][which].copy()
    index = tuple(data.draw(st.integers(0, n - 1)) for n in target.shape)
    corruption = data.draw(st.sampled_from(["negative", "nan", "perturb"]))
    target[index] = {"negative": -0.1, "nan": np.nan, "perturb": target[index] + 0.5}[corruption]
    arrays[name][which] = target

    with pytest.raises(ModelValidationError) as info:
        compile_arrays(**arrays)

    located = [i for i in info.value.as_dicts() if i["loc"] == [name, which]]
    assert located, info.value.as_dicts()
    expected = {"negative": "negative", "nan": "not_finite", "perturb": "not_normalised"}[corruption]
    assert located[0]["type"] == expected


@st.composite
def grid_layouts(draw: st.DrawFn) -> dict[str, Any]:
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    cells = [[r, c] for r in range(height) for c in range(width)]
    chosen = draw(st.permutations(cells))
    num_walls = draw(st.integers(0, len(cells) - 2)) if len(cells) >= 2 else 0
    return {
        "height": height,
        "width": width,
        "walls": chosen[:num_walls],
        "free": chosen[num_walls:],
    }


@settings(max_examples=50, deadline=None)
@given(grid_layouts(), st.data())
def test_grid_templates_build_valid_models_for_any_layout(
    layout: dict[str, Any], data: st.DataObject
) -> None:
    free = layout["free"]
    walls = layout["walls"]
    explorer = get_template("grid_explorer").instantiate(
        {
            "height": layout["height"],
            "width": layout["width"],
            "walls": walls,
            "goal": free[0],
            "start": data.draw(st.sampled_from(free)),
            "observation_noise": data.draw(st.floats(0.0, 0.9)),
            "policy_len": data.draw(st.integers(1, 2)),
        }
    )
    # Construction validated the tensors; here: the agent can never enter a wall.
    wall_index = [r * layout["width"] + c for r, c in walls]
    open_index = [r * layout["width"] + c for r, c in free]
    assert explorer.B[0][np.ix_(wall_index, open_index)].sum() == 0.0
    assert explorer.D[0][wall_index].sum() == 0.0
    assert int(np.argmax(explorer.C[0])) == open_index[0]

    if len(free) >= 2:
        collector = get_template("resource_collector").instantiate(
            {
                "height": layout["height"],
                "width": layout["width"],
                "walls": walls,
                "resources": free[1:2],
                "goals": free[:1],
            }
        )
        assert collector.B[0][np.ix_(wall_index, open_index)].sum() == 0.0
        assert collector.num_policies == 7


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.booleans(),
    st.sampled_from([None, 0, 1]),
    st.integers(1, 3),
)
def test_tmaze_builds_a_valid_model_for_any_parameters(
    reward_probability: float, cue_validity: float, null_cue: bool, context: int | None, policy_len: int
) -> None:
    model = get_template("tmaze").instantiate(
        {
            "reward_probability": reward_probability,
            "cue_validity": cue_validity,
            "null_cue_outcome": null_cue,
            "context": context,
            "policy_len": policy_len,
        }
    )

    assert model.num_policies == 4**policy_len
    assert model.num_obs == (4, 3, 3 if null_cue else 2)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def _all_paths(node: Any, prefix: list[Any]) -> list[list[Any]]:
    paths = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _all_paths(value, [*prefix, key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            paths += _all_paths(value, [*prefix, i])
    return paths


@settings(max_examples=100, deadline=None)
@given(documents(), json_values, st.data())
def test_any_json_anywhere_is_either_accepted_or_a_validation_error(
    document: Document, junk: Any, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(_all_paths(document, [])[1:]))
    bad = copy.deepcopy(document)
    get(bad, path[:-1])[path[-1]] = junk

    for candidate in (bad, junk):
        issues = _issues_or_none(candidate)
        if issues is not None:
            assert issues
            assert all(isinstance(issue["msg"], str) and issue["type"] for issue in issues)
            json.dumps(issues)  # the 422 body is always serialisable


def _issues_or_none(candidate: Any) -> list[dict[str, Any]] | None:
    """The issues of a rejected document, ``None`` if accepted; any other exception fails the test."""
    try:
        compile_mapping(candidate)
    except ModelValidationError as error:
        return error.as_dicts()
    return None

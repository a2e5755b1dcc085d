"""GridWorldSpec validation: every problem is reported with the loc of the offending value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeagentics.domain.world import (
    FieldError,
    GridWorldSpec,
    ResourcePile,
    WorldValidationError,
    spec_from_mapping,
)
from freeagentics.domain.world.errors import MAX_ERRORS
from freeagentics.domain.world.spec import MAX_AGENTS_LIMIT, MAX_GRID_CELLS, MAX_GRID_SIDE, SPEC_FIELDS


def valid_mapping() -> dict[str, object]:
    return {
        "height": 4,
        "width": 5,
        "walls": [[1, 1], [1, 2]],
        "resources": [{"cell": [0, 4], "amount": 3}],
        "goals": [[3, 4]],
        "max_agents": 10,
    }


def errors_of(data: object) -> list[tuple[tuple[object, ...], str]]:
    with pytest.raises(WorldValidationError) as raised:
        spec_from_mapping(data)
    return [(error.loc, error.type) for error in raised.value.errors]


def test_valid_mapping_builds_the_spec_and_round_trips() -> None:
    spec = spec_from_mapping(valid_mapping())
    assert spec == GridWorldSpec(
        height=4,
        width=5,
        walls=((1, 1), (1, 2)),
        resources=(ResourcePile(cell=(0, 4), amount=3),),
        goals=((3, 4),),
        max_agents=10,
    )
    assert spec_from_mapping(spec.to_mapping()) == spec
    assert spec.total_resources == 3
    assert spec.num_cells == 20
    assert spec.agent_limit == 10


def test_optional_fields_default_to_empty() -> None:
    spec = spec_from_mapping({"height": 2, "width": 3})
    assert (spec.walls, spec.resources, spec.goals) == ((), (), ())
    assert spec.max_agents is None
    assert spec.agent_limit == MAX_AGENTS_LIMIT


def test_direct_construction_normalises_lists_and_numpy_integers() -> None:
    spec = GridWorldSpec(height=np.int64(3), width=3, walls=[[0, np.int32(1)]], goals=np.array([[2, 2]]))  # type: ignore[arg-type]
    assert spec.walls == ((0, 1),)
    assert spec.goals == ((2, 2),)
    assert type(spec.height) is int


def test_unknown_fields_are_rejected_by_name() -> None:
    assert errors_of({**valid_mapping(), "gravity": 9.81}) == [(("gravity",), "extra_forbidden")]
    data = valid_mapping()
    data["resources"] = [{"cell": [0, 4], "amount": 1, "colour": "red"}]
    assert errors_of(data) == [(("resources", 0, "colour"), "extra_forbidden")]


def test_missing_size_is_reported() -> None:
    assert errors_of({"walls": []}) == [(("height",), "missing"), (("width",), "missing")]


def test_not_a_mapping_is_rejected() -> None:
    assert errors_of([1, 2]) == [((), "type_error")]


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("height", 0, "out_of_range"),
        ("height", MAX_GRID_SIDE + 1, "out_of_range"),
        ("height", True, "type_error"),
        ("height", 4.0, "type_error"),
        ("height", "4", "type_error"),
        ("height", math.nan, "not_finite"),
        ("width", math.inf, "not_finite"),
        ("max_agents", 0, "out_of_range"),
        ("max_agents", MAX_AGENTS_LIMIT + 1, "out_of_range"),
        ("walls", "0,1", "type_error"),
        ("goals", {"cell": [0, 0]}, "type_error"),
        ("resources", 5, "type_error"),
    ],
)
def test_bad_scalar_or_container_names_the_field(field: str, value: object, kind: str) -> None:
    assert errors_of({**valid_mapping(), field: value}) == [((field,), kind)]


def test_oversize_grid_is_rejected() -> None:
    width = MAX_GRID_CELLS // MAX_GRID_SIDE + 1
    assert errors_of({"height": MAX_GRID_SIDE, "width": width}) == [(("width",), "too_large")]


def test_cells_outside_the_grid_are_named_by_index() -> None:
    data = valid_mapping()
    data["walls"] = [[1, 1], [4, 0], [0, 5]]
    assert errors_of(data) == [(("walls", 1), "out_of_range"), (("walls", 2), "out_of_range")]


def test_malformed_cells_are_named_down_to_the_coordinate() -> None:
    data = valid_mapping()
    data["goals"] = [[3, 4], [1], [0, math.nan], [0, -1]]
    assert errors_of(data) == [
        (("goals", 1), "type_error"),
        (("goals", 2, 1), "not_finite"),
        (("goals", 3, 1), "out_of_range"),
    ]


def test_resource_amounts_must_be_positive_finite_integers() -> None:
    data = valid_mapping()
    data["resources"] = [
        {"cell": [0, 0], "amount": 0},
        {"cell": [0, 1], "amount": math.nan},
        {"cell": [0, 2], "amount": 1.5},
        {"cell": [0, 3]},
        [0, 4, 1],
    ]
    assert errors_of(data) == [
        (("resources", 0, "amount"), "out_of_range"),
        (("resources", 1, "amount"), "not_finite"),
        (("resources", 2, "amount"), "type_error"),
        (("resources", 3, "amount"), "missing"),
        (("resources", 4), "type_error"),
    ]


def test_the_array_fast_path_still_refuses_what_the_item_parser_refuses() -> None:
    data = valid_mapping()
    data["walls"] = [[0, 0], [True, 1]]
    assert errors_of(data) == [(("walls", 1, 0), "type_error")]
    data["walls"] = [[0, 0], np.array([True, False])]
    assert errors_of(data) == [(("walls", 1, 0), "type_error"), (("walls", 1, 1), "type_error")]
    data["walls"] = np.array([[0, 0], [0, 0]])
    assert errors_of(data) == [(("walls", 1), "duplicate")]
    data["walls"] = np.array([[0.0, 1.0]])
    assert errors_of(data) == [(("walls", 0, 0), "type_error"), (("walls", 0, 1), "type_error")]
    data["walls"] = np.array([[0, 1]], dtype=np.uint8)
    assert spec_from_mapping(data).walls == ((0, 1),)


def test_a_large_layout_parses_to_the_same_spec_either_way() -> None:
    cells = [[row, col] for row in range(0, 200, 2) for col in range(0, 200, 3)]
    from_lists = spec_from_mapping({"height": 200, "width": 200, "walls": cells})
    from_array = spec_from_mapping({"height": 200, "width": 200, "walls": np.array(cells)})
    assert from_lists == from_array
    assert from_lists.walls[:2] == ((0, 0), (0, 3))
    assert all(type(row) is int and type(col) is int for row, col in from_array.walls)


def test_duplicates_are_rejected() -> None:
    data = valid_mapping()
    data["walls"] = [[1, 1], [1, 1]]
    data["resources"] = [{"cell": [0, 4], "amount": 1}, {"cell": [0, 4], "amount": 2}]
    assert errors_of(data) == [(("walls", 1), "duplicate"), (("resources", 1, "cell"), "duplicate")]


def test_walls_may_not_cover_goals_or_resources_and_resources_not_goals() -> None:
    data = valid_mapping()
    data["walls"] = [[3, 4], [0, 4]]
    assert errors_of(data) == [(("walls", 0), "conflict"), (("walls", 1), "conflict")]
    data = valid_mapping()
    data["resources"] = [{"cell": [3, 4], "amount": 1}]
    assert errors_of(data) == [(("resources", 0, "cell"), "conflict")]


def test_a_grid_of_walls_only_is_rejected() -> None:
    assert errors_of({"height": 1, "width": 2, "walls": [[0, 0], [0, 1]]}) == [(("walls",), "no_open_cell")]


def test_all_errors_are_reported_at_once() -> None:
    data = {"height": 3, "width": 0, "walls": [[9, 9]], "goals": "x", "extra": 1}
    assert errors_of(data) == [
        (("extra",), "extra_forbidden"),
        (("width",), "out_of_range"),
        (("goals",), "type_error"),
    ]


def test_error_list_is_capped_and_serialisable() -> None:
    with pytest.raises(WorldValidationError) as raised:
        spec_from_mapping({"height": 2, "width": 2, "walls": [[5, 5]] * 200})
    dicts = raised.value.as_dicts()
    assert len(dicts) == MAX_ERRORS + 1
    assert dicts[0] == {
        "loc": ["walls", 0],
        "msg": "cell (5, 5) is outside the 2x2 grid",
        "type": "out_of_range",
    }
    assert dicts[-1]["type"] == "too_many_errors"
    assert "walls.0" in str(raised.value)


def test_direct_construction_validates_too() -> None:
    with pytest.raises(WorldValidationError) as raised:
        GridWorldSpec(height=2, width=2, walls=((0, 0),), goals=((0, 0),))
    assert [(e.loc, e.type) for e in raised.value.errors] == [(("walls", 0), "conflict")]


BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**12), 10**12),
    st.text(max_size=3),
    st.lists(st.integers(-5, 50), max_size=3),
    st.lists(st.lists(st.one_of(st.integers(-5, 50), st.floats(), st.booleans()), max_size=3), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SPEC_FIELDS)), BAD_VALUES)
def test_any_corrupted_field_is_accepted_or_named_in_every_error(field: str, value: object) -> None:
    data = {"height": 40, "width": 50, "walls": [], "resources": [], "goals": [], "max_agents": None}
    data[field] = value
    errors: tuple[FieldError, ...] = ()
    try:
        spec = spec_from_mapping(data)
    except WorldValidationError as error:
        errors = error.errors
    if errors:
        assert all(e.loc[:1] == (field,) for e in errors)
        assert all(e.type and e.msg for e in errors)
    else:
        assert spec_from_mapping(spec.to_mapping()) == spec

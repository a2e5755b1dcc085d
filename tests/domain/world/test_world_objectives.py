"""Objective regions and the vectorised completion check used by the coalition coordinator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freeagentics.domain.coalitions.problem import Region
from freeagentics.domain.world import (
    ObjectiveRegion,
    Objectives,
    WorldValidationError,
    objective_status,
    region_from_mapping,
    spec_from_mapping,
)

SPEC = spec_from_mapping({"height": 6, "width": 8})


def test_cell_objective_completes_when_members_cover_every_capability() -> None:
    objectives = Objectives.from_regions([ObjectiveRegion.at_cell(2, 3)], required=[[1.0, 2.0]])
    positions = [[2, 3], [2, 3], [0, 0]]
    capabilities = [[1.0, 0.0], [0.0, 1.0], [0.0, 5.0]]
    status = objective_status(objectives, positions, capabilities, grid_shape=(6, 8))
    assert status.present_capability.tolist() == [[1.0, 1.0]]
    assert status.complete.tolist() == [False]
    positions[2] = [2, 3]
    status = objective_status(objectives, positions, capabilities, grid_shape=(6, 8))
    assert status.complete.tolist() == [True]
    assert status.present_count.tolist() == [3]
    assert status.counted.tolist() == [True, True, True]


def test_coalition_regions_are_accepted_as_they_are() -> None:
    objectives = Objectives.from_regions(
        [Region.cell(1, 2), Region(top=0, left=0, bottom=1, right=1)], [[1.0], [1.0]]
    )
    assert objectives.regions.tolist() == [[1, 2, 1, 2], [0, 0, 1, 1]]


def test_region_bounds_are_inclusive() -> None:
    objectives = Objectives.from_regions(
        [ObjectiveRegion(top=1, left=1, bottom=2, right=3)], required=[[4.0]]
    )
    inside = [[1, 1], [2, 3], [1, 3], [2, 1]]
    outside = [[0, 1], [3, 3], [1, 0], [2, 4]]
    status = objective_status(objectives, inside + outside, np.ones((8, 1)), grid_shape=(6, 8))
    assert status.present_count.tolist() == [4]
    assert status.counted.tolist() == [True] * 4 + [False] * 4
    assert status.complete.tolist() == [True]


def test_with_an_assignment_only_members_inside_their_own_region_count() -> None:
    objectives = Objectives.from_regions(
        [ObjectiveRegion.at_cell(0, 0), ObjectiveRegion.at_cell(5, 7)], required=[[1.0], [2.0]]
    )
    positions = [[0, 0], [0, 0], [5, 7], [5, 7], [3, 3]]
    capabilities = np.ones((5, 1))
    # Agent 1 stands on objective 0 but belongs to objective 1; agent 4 belongs to 1 but is elsewhere.
    status = objective_status(
        objectives, positions, capabilities, grid_shape=(6, 8), assignment=[0, 1, 1, -1, 1]
    )
    assert status.present_count.tolist() == [1, 1]
    assert status.counted.tolist() == [True, False, True, False, False]
    assert status.complete.tolist() == [True, False]
    without = objective_status(objectives, positions, capabilities, grid_shape=(6, 8))
    assert without.present_count.tolist() == [2, 2]
    assert without.complete.tolist() == [True, True]


def test_an_objective_without_requirements_still_needs_someone_present() -> None:
    objectives = Objectives.from_regions([ObjectiveRegion.at_cell(1, 1)], required=np.zeros((1, 2)))
    empty = objective_status(objectives, [[0, 0]], np.ones((1, 2)), grid_shape=(6, 8))
    assert empty.complete.tolist() == [False]
    there = objective_status(objectives, [[1, 1]], np.zeros((1, 2)), grid_shape=(6, 8))
    assert there.complete.tolist() == [True]


def test_free_slots_never_count() -> None:
    objectives = Objectives.from_regions(
        [ObjectiveRegion(top=0, left=0, bottom=5, right=7)], required=[[1.0]]
    )
    status = objective_status(objectives, [[-1, -1]], [[9.0]], grid_shape=(6, 8))
    assert status.complete.tolist() == [False]
    members = objective_status(objectives, [[-1, -1]], [[9.0]], grid_shape=(6, 8), assignment=[0])
    assert members.complete.tolist() == [False]


def test_float_capabilities_meet_requirements_despite_rounding() -> None:
    objectives = Objectives.from_regions([ObjectiveRegion.at_cell(0, 0)], required=[[0.3]])
    status = objective_status(objectives, [[0, 0]] * 3, [[0.1]] * 3, grid_shape=(6, 8))
    assert status.complete.tolist() == [True]


def test_inputs_are_validated() -> None:
    objectives = Objectives.from_regions([ObjectiveRegion.at_cell(0, 0)], required=[[1.0]])
    with pytest.raises(ValueError, match="shape"):
        objective_status(objectives, [[0, 0]], [[1.0, 2.0]], grid_shape=(6, 8))
    with pytest.raises(ValueError, match="finite"):
        objective_status(objectives, [[0, 0]], [[np.nan]], grid_shape=(6, 8))
    with pytest.raises(ValueError, match="beyond"):
        objective_status(objectives, [[0, 0]], [[1.0]], grid_shape=(0, 0))
    with pytest.raises(ValueError, match="assignment"):
        objective_status(objectives, [[0, 0]], [[1.0]], grid_shape=(6, 8), assignment=[1])
    with pytest.raises(ValueError, match="finite"):
        Objectives.from_regions([ObjectiveRegion.at_cell(0, 0)], required=[[-1.0]])
    with pytest.raises(ValueError, match="shape"):
        Objectives(regions=np.zeros((2, 3), dtype=np.int64), required=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="region"):
        ObjectiveRegion(top=2, left=0, bottom=1, right=0)


def test_objectives_are_immutable() -> None:
    objectives = Objectives.from_regions([ObjectiveRegion.at_cell(0, 0)], required=[[1.0]])
    with pytest.raises(ValueError, match="read-only"):
        objectives.required[0, 0] = 0.0


def test_region_from_mapping_accepts_a_cell_or_a_rectangle() -> None:
    assert region_from_mapping({"cell": [2, 3]}, SPEC) == ObjectiveRegion.at_cell(2, 3)
    rectangle = {"top": 1, "left": 2, "bottom": 3, "right": 7}
    assert region_from_mapping(rectangle, SPEC).to_mapping() == rectangle


def test_region_from_mapping_names_the_problem() -> None:
    def errors(data: object) -> list[tuple[tuple[object, ...], str]]:
        with pytest.raises(WorldValidationError) as raised:
            region_from_mapping(data, SPEC, loc=("target",))
        return [(e.loc, e.type) for e in raised.value.errors]

    assert errors({"cell": [6, 0]}) == [(("target", "cell"), "out_of_range")]
    assert errors({"cell": [0, 0], "top": 1}) == [(("target", "top"), "extra_forbidden")]
    assert errors({"top": 3, "left": 0, "bottom": 1, "right": 8}) == [
        (("target", "right"), "out_of_range"),
        (("target", "bottom"), "out_of_range"),
    ]
    assert errors({"top": 0}) == [
        (("target", "left"), "missing"),
        (("target", "bottom"), "missing"),
        (("target", "right"), "missing"),
    ]
    assert errors("A1") == [(("target",), "type_error")]


def brute_force(
    regions: np.ndarray, required: np.ndarray, positions: np.ndarray, capabilities: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    present = np.zeros_like(required)
    count = np.zeros(len(regions), dtype=np.int64)
    for k, (top, left, bottom, right) in enumerate(regions):
        for (row, col), capability in zip(positions, capabilities, strict=True):
            if top <= row <= bottom and left <= col <= right:
                present[k] += capability
                count[k] += 1
    return present, count


@st.composite
def instances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    height = draw(st.integers(1, 7))
    width = draw(st.integers(1, 7))
    num_objectives = draw(st.integers(0, 5))
    num_agents = draw(st.integers(0, 12))
    num_capabilities = draw(st.integers(1, 3))
    regions = []
    for _ in range(num_objectives):
        rows = sorted(draw(st.lists(st.integers(0, height - 1), min_size=2, max_size=2)))
        cols = sorted(draw(st.lists(st.integers(0, width - 1), min_size=2, max_size=2)))
        regions.append([rows[0], cols[0], rows[1], cols[1]])
    amounts = st.integers(0, 3)
    required = [[draw(amounts) for _ in range(num_capabilities)] for _ in range(num_objectives)]
    positions = [
        [draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))] for _ in range(num_agents)
    ]
    capabilities = [[draw(amounts) for _ in range(num_capabilities)] for _ in range(num_agents)]
    return (
        np.array(regions, dtype=np.int64).reshape(num_objectives, 4),
        np.array(required, dtype=np.float64).reshape(num_objectives, num_capabilities),
        np.array(positions, dtype=np.int64).reshape(num_agents, 2),
        np.array(capabilities, dtype=np.float64).reshape(num_agents, num_capabilities),
        height,
        width,
    )


@settings(max_examples=100, deadline=None)
@given(instances())
def test_summed_area_status_equals_brute_force(
    instance: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int],
) -> None:
    regions, required, positions, capabilities, height, width = instance
    objectives = Objectives(regions=regions, required=required)
    status = objective_status(objectives, positions, capabilities, grid_shape=(height, width))
    present, count = brute_force(regions, required, positions, capabilities)
    assert np.array_equal(status.present_capability, present)
    assert np.array_equal(status.present_count, count)
    assert np.array_equal(status.complete, (count > 0) & (present >= required).all(axis=1))


@settings(max_examples=100, deadline=None)
@given(instances(), st.data())
def test_member_status_equals_brute_force_over_each_coalition(
    instance: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int], data: st.DataObject
) -> None:
    regions, required, positions, capabilities, height, width = instance
    objectives = Objectives(regions=regions, required=required)
    assignment = np.array(
        [data.draw(st.integers(-1, len(regions) - 1)) for _ in range(len(positions))], dtype=np.int64
    )
    status = objective_status(
        objectives, positions, capabilities, grid_shape=(height, width), assignment=assignment
    )
    for k in range(len(regions)):
        members = assignment == k
        present, count = brute_force(
            regions[k : k + 1], required[k : k + 1], positions[members], capabilities[members]
        )
        assert np.array_equal(status.present_capability[k], present[0])
        assert status.present_count[k] == count[0]

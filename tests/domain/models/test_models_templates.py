"""Built-in templates: structure, agreement with the grid conventions and pymdp, registry and caps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from freeagentics.domain.conventions import MOVE_DELTAS, CellContent, CollectorAction, Move, location_index
from freeagentics.domain.models import (
    TEMPLATES,
    CompiledModel,
    ModelCaps,
    ModelValidationError,
    compile_spec,
    describe_templates,
    get_template,
    grid_explorer,
    resource_collector,
    spec_from_compiled,
    spec_from_mapping,
    spec_to_mapping,
    tmaze,
    transition_table,
)

#: Parameters for which every template builds (only required ones where defaults exist).
EXAMPLE_PARAMETERS: dict[str, dict[str, object]] = {
    "grid_explorer": {
        "height": 4,
        "width": 5,
        "goal": [3, 4],
        "walls": [[1, 1], [2, 1]],
        "observation_noise": 0.2,
    },
    "resource_collector": {
        "height": 3,
        "width": 4,
        "resources": [[0, 0]],
        "goals": [[2, 3]],
        "walls": [[1, 1]],
    },
    "tmaze": {},
}


def walk(
    height: int, width: int, walls: set[tuple[int, int]], cell: tuple[int, int], move: int
) -> tuple[int, int]:
    """Reference grid semantics, written from the conventions module's docstring."""
    d_row, d_col = MOVE_DELTAS[move]
    target = (cell[0] + d_row, cell[1] + d_col)
    inside = 0 <= target[0] < height and 0 <= target[1] < width
    return target if inside and target not in walls else cell


def assert_valid(model: CompiledModel) -> None:
    for array in (*model.A, *model.B):
        np.testing.assert_allclose(array.sum(axis=0), 1.0, atol=1e-12)
        assert (array >= 0).all()
    for array in model.D:
        assert array.sum() == pytest.approx(1.0)


def test_every_registered_template_builds_a_valid_model_that_round_trips_as_a_spec() -> None:
    assert set(TEMPLATES) == set(EXAMPLE_PARAMETERS)
    for name, parameters in EXAMPLE_PARAMETERS.items():
        model = get_template(name).instantiate(parameters)
        assert_valid(model)
        document = json.loads(json.dumps(spec_to_mapping(spec_from_compiled(model))))
        again = compile_spec(spec_from_mapping(document))
        for x, y in zip(
            model.A + model.B + model.C + model.D, again.A + again.B + again.C + again.D, strict=True
        ):
            np.testing.assert_array_equal(x, y)
        assert again.num_policies == model.num_policies


def test_grid_explorer_transitions_follow_the_grid_conventions() -> None:
    height, width, walls = 4, 5, {(1, 1), (2, 1), (0, 3)}
    model = grid_explorer(height, width, goal=(3, 4), walls=[list(w) for w in walls])

    table = transition_table(model.B[0])
    assert table is not None
    assert model.num_controls == (len(Move),)
    assert model.action_names == (("up", "down", "left", "right", "stay"),)
    for row in range(height):
        for col in range(width):
            if (row, col) in walls:
                continue
            for move in Move:
                expected = walk(height, width, walls, (row, col), int(move))
                assert table[location_index(row, col, width), int(move)] == location_index(*expected, width)


def test_grid_explorer_observation_noise_goes_to_open_neighbours() -> None:
    model = grid_explorer(3, 3, goal=(2, 2), walls=[[0, 1]], observation_noise=0.3)

    A = model.A[0]
    corner = location_index(0, 0, 3)  # open neighbours: (1, 0) only, since (0, 1) is a wall
    assert A[corner, corner] == pytest.approx(0.7)
    assert A[location_index(1, 0, 3), corner] == pytest.approx(0.3)
    centre = location_index(1, 1, 3)  # four open neighbours
    assert A[centre, centre] == pytest.approx(0.7)
    assert A[location_index(0, 1, 3), centre] == 0.0  # never observe a wall
    assert A[location_index(2, 1, 3), centre] == pytest.approx(0.3 / 3)


def test_grid_explorer_preferences_and_priors() -> None:
    model = grid_explorer(3, 3, goal=(0, 2), start=(2, 0), goal_preference=5.0, distance_preference=0.5)

    C = model.C[0]
    assert int(np.argmax(C)) == location_index(0, 2, 3)
    assert C[location_index(0, 2, 3)] == pytest.approx(5.0)
    assert C[location_index(2, 0, 3)] == pytest.approx(-0.5 * 4)
    np.testing.assert_array_equal(model.D[0], np.eye(9)[location_index(2, 0, 3)])
    uniform = grid_explorer(2, 2, goal=(0, 0), walls=[[1, 1]])
    np.testing.assert_allclose(uniform.D[0], [1 / 3, 1 / 3, 1 / 3, 0.0])


def test_grid_explorer_learning_starts_from_flat_counts() -> None:
    model = grid_explorer(3, 3, goal=(0, 0), learn_B=True, pB_concentration=0.5)

    assert model.pB is not None
    np.testing.assert_array_equal(model.pB[0], np.full((9, 9, 5), 0.5))  # type: ignore[arg-type]
    np.testing.assert_allclose(model.B[0], np.full((9, 9, 5), 1 / 9))


def test_resource_collector_factors_and_tied_policies() -> None:
    model = resource_collector(
        3, 4, resources=[[0, 0], [1, 2]], goals=[[2, 3]], walls=[[1, 1]], collect_success=0.8, policy_len=2
    )

    assert model.factor_names == ("location", "carrying")
    assert model.num_controls == (len(CollectorAction), len(CollectorAction))
    assert model.control_factors == (0, 1)
    policies = model.policy_table()
    assert policies.shape == (49, 2, 2)
    np.testing.assert_array_equal(policies[:, :, 0], policies[:, :, 1])
    location_table = transition_table(model.B[0])
    assert location_table is not None
    for action in (CollectorAction.COLLECT, CollectorAction.DEPOSIT, CollectorAction.STAY):
        np.testing.assert_array_equal(location_table[:, int(action)], np.arange(12))
    B_carry = model.B[1]
    np.testing.assert_allclose(B_carry[:, 0, CollectorAction.COLLECT], [0.2, 0.8])
    np.testing.assert_allclose(B_carry[:, 1, CollectorAction.DEPOSIT], [0.9, 0.1])
    np.testing.assert_array_equal(B_carry[:, :, CollectorAction.UP], np.eye(2))
    content = model.A[1].argmax(axis=0)
    assert content[location_index(0, 0, 4)] == CellContent.RESOURCE
    assert content[location_index(1, 2, 4)] == CellContent.RESOURCE
    assert content[location_index(2, 3, 4)] == CellContent.GOAL
    assert content[location_index(0, 1, 4)] == CellContent.EMPTY
    np.testing.assert_array_equal(model.D[1], [1.0, 0.0])
    assert model.metadata["sampling_mode"] == "full"


@pytest.mark.parity
def test_tmaze_equals_pymdp_legacy_tmaze_env() -> None:
    envs = pytest.importorskip("pymdp.legacy.envs")
    for null_cue, env_class in ((False, envs.TMazeEnv), (True, envs.TMazeEnvNullOutcome)):
        env = env_class(reward_probs=[0.98, 0.02])
        model = tmaze(null_cue_outcome=null_cue)
        for ours, theirs in zip(model.A, env.get_likelihood_dist(), strict=True):
            # 1 - 0.98 differs from pymdp's literal 0.02 in the last bit.
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)
        for ours, theirs in zip(model.B, env.get_transition_dist(), strict=True):
            np.testing.assert_array_equal(ours, theirs)


def test_tmaze_semantics() -> None:
    model = tmaze(reward_probability=0.9, cue_validity=0.8, context=1)

    left_arm, right_arm, cue = 1, 2, 3
    reward, loss = 1, 2
    assert model.A[1][reward, left_arm, 0] == pytest.approx(0.9)
    assert model.A[1][loss, left_arm, 1] == pytest.approx(0.9)
    assert model.A[1][reward, right_arm, 1] == pytest.approx(0.9)
    assert model.A[2][1, cue, 1] == pytest.approx(0.8)  # cue_right in context reward_right
    np.testing.assert_array_equal(model.C[1], [0.0, 3.0, -3.0])
    np.testing.assert_array_equal(model.D[0], [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(model.D[1], [0.0, 1.0])
    assert model.control_factors == (0,)
    assert model.num_policies == 4


@pytest.mark.parametrize(
    ("name", "parameters", "loc", "type_"),
    [
        ("grid_explorer", {"height": 3, "width": 3}, ["parameters", "goal"], "missing"),
        ("grid_explorer", {"height": 3, "width": 3, "goal": [3, 0]}, ["parameters", "goal"], "out_of_range"),
        (
            "grid_explorer",
            {"height": 3, "width": 3, "goal": [0, 0], "walls": [[0, 0]]},
            ["parameters", "goal"],
            "invalid_value",
        ),
        (
            "grid_explorer",
            {"height": 0, "width": 3, "goal": [0, 0]},
            ["parameters", "height"],
            "invalid_value",
        ),
        (
            "grid_explorer",
            {"height": 3, "width": 3, "goal": [0, 0], "colour": 1},
            ["parameters", "colour"],
            "extra_forbidden",
        ),
        (
            "grid_explorer",
            {"height": 3, "width": 3, "goal": [0, 0], "observation_noise": 1.0},
            ["parameters", "observation_noise"],
            "invalid_value",
        ),
        (
            "grid_explorer",
            {"height": 3, "width": 3, "goal": [0, 0], "learn_B": "yes"},
            ["parameters", "learn_B"],
            "type_error",
        ),
        ("grid_explorer", {"height": 3, "width": 3, "goal": ["a", 0]}, ["parameters", "goal"], "type_error"),
        (
            "resource_collector",
            {"height": 2, "width": 2, "resources": [[0, 0]], "goals": []},
            ["parameters", "goals"],
            "invalid_value",
        ),
        (
            "resource_collector",
            {"height": 2, "width": 2, "resources": [[0, 0]], "goals": [[0, 0]]},
            ["parameters", "goals"],
            "invalid_value",
        ),
        ("tmaze", {"cue_validity": 1.5}, ["parameters", "cue_validity"], "invalid_value"),
        ("tmaze", {"context": 2}, ["parameters", "context"], "invalid_value"),
        ("tmaze", {"reward_preference": float("nan")}, ["parameters", "reward_preference"], "invalid_value"),
    ],
)
def test_bad_template_parameters_are_named(
    name: str, parameters: dict[str, object], loc: list[object], type_: str
) -> None:
    with pytest.raises(ModelValidationError) as info:
        get_template(name).instantiate(parameters)

    assert any(i["loc"] == loc and i["type"] == type_ for i in info.value.as_dicts()), info.value.as_dicts()


def test_oversized_template_requests_are_refused_before_building() -> None:
    with pytest.raises(ModelValidationError) as info:
        # A dense 300x300 grid B would need 300**4 * 5 * 8 bytes; refusing must not try to allocate it.
        get_template("grid_explorer").instantiate({"height": 300, "width": 300, "goal": [0, 0]})
    assert {i.type for i in info.value.issues} == {"too_large"}

    with pytest.raises(ModelValidationError) as info:
        get_template("tmaze").instantiate({"policy_len": 7}, ModelCaps(max_policies=1000))
    assert info.value.issues[0].loc == ("parameters", "policy_len")


def test_registry_describes_parameters_as_json_schema() -> None:
    described = describe_templates()

    assert [d["name"] for d in described] == sorted(TEMPLATES)
    json.dumps(described)  # JSON-ready
    grid = next(d for d in described if d["name"] == "grid_explorer")
    schema = grid["parameters"]
    assert schema["additionalProperties"] is False  # type: ignore[index]
    assert set(schema["required"]) == {"height", "width", "goal"}  # type: ignore[index]
    assert schema["properties"]["walls"]["default"] == []  # type: ignore[index]
    assert schema["properties"]["observation_noise"]["exclusiveMaximum"] == 1.0  # type: ignore[index]
    assert schema["properties"]["pB_concentration"]["exclusiveMinimum"] == 0.0  # type: ignore[index]
    with pytest.raises(KeyError, match="known"):
        get_template("nope")

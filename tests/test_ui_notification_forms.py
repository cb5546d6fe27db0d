"""The notification forms' pure parts: a form becomes the API's document (only the chosen
kind's inputs, secrets kept with {"set": true} when left empty), and the API's problems
come back beside the input or matcher row they are about."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from monitor.domain.channels import KEEP, parse_channel
from monitor.domain.notification_documents import parse_inhibition, parse_policy
from monitor.domain.rule_fields import RuleProblems
from monitor.web.ui import channel_form, inhibition_form, matcher_rows, policy_form


def test_only_the_chosen_kinds_inputs_are_read_and_empty_secrets_are_kept() -> None:
    form = MultiDict(
        [
            ("name", " ops "),
            ("enabled", "on"),
            ("url", "https://hooks.example.com/x"),
            ("secret", ""),
            ("headers", "X-Team: ops\n\n"),
            ("secret_headers", "X-Extra: new"),
            ("keep_header", "Authorization"),
            ("host", "smtp.example.com"),  # an email input: not a webhook's
            ("routing_key", "R"),
        ]
    )
    body, problems = channel_form.channel_body(
        form, "webhook", ["header:Authorization", "header:X-Old", "secret"]
    )
    assert problems == []
    assert body == {
        "name": "ops",
        "kind": "webhook",
        "enabled": True,
        "description": "",
        "url": "https://hooks.example.com/x",
        "secret": {"set": True},
        "headers": {"X-Team": "ops"},
        "secret_headers": {"Authorization": {"set": True}, "X-Extra": "new"},
    }
    draft = parse_channel(body)
    assert draft.secrets["secret"] is KEEP and "header:X-Old" not in draft.secrets


def test_an_email_password_is_kept_replaced_or_removed() -> None:
    base = [("name", "m"), ("host", "smtp.example.com"), ("from", "a@example.com")]
    base += [("to", "b@example.com,\n c@example.com"), ("username", "u"), ("port", "2525")]
    kept, _ = channel_form.channel_body(MultiDict([*base, ("password", "")]), "email", ["password"])
    assert kept["password"] == {"set": True} and kept["to"] == ["b@example.com", "c@example.com"]
    assert kept["port"] == 2525
    typed, _ = channel_form.channel_body(
        MultiDict([*base, ("password", "pw")]), "email", ["password"]
    )
    assert typed["password"] == "pw"
    removed, _ = channel_form.channel_body(
        MultiDict([*base, ("password", ""), ("clear_password", "on")]), "email", ["password"]
    )
    assert "password" not in removed
    assert removed["enabled"] is False, "an unticked checkbox is not sent: disabled"


def test_a_header_line_without_a_colon_is_the_forms_own_problem() -> None:
    form = MultiDict(
        [("name", "x"), ("url", "https://a.example.com"), ("headers", "X-A: 1\nbroken")]
    )
    body, problems = channel_form.channel_body(form, "alertmanager", [])
    assert body["headers"] == {"X-A": "1"}
    assert problems == [{"field": "headers", "message": "line 2 must be Name: value"}]


def test_channel_problems_land_beside_their_inputs() -> None:
    problems = [
        {"field": "headers.X-Team", "message": "bad"},
        {"field": "url", "message": "is required"},
        {"field": "(body)", "message": "too big"},
        {"field": "host", "message": "is not a field of slack channels"},
    ]
    shown = channel_form.errors_by_field(problems, "slack")
    assert shown == {
        "form": [
            "headers.X-Team: bad",  # not a slack input: at the top, by its whole path
            "(body): too big",
            "host: is not a field of slack channels",
        ],
        "secret_url": ["is required"],
    }
    assert channel_form.errors_by_field(problems[:1], "webhook") == {"headers": ["X-Team: bad"]}


def test_a_stored_channel_becomes_the_form_without_its_secrets() -> None:
    values = channel_form.form_values(
        {
            "name": "m",
            "kind": "email",
            "enabled": False,
            "description": "d",
            "host": "smtp.example.com",
            "port": 587,
            "to": ["a@example.com", "b@example.com"],
            "password": {"set": True},
        }
    )
    assert values == {
        "name": "m",
        "description": "d",
        "enabled": "",
        "host": "smtp.example.com",
        "port": "587",
        "to": "a@example.com\nb@example.com",
    }


ROW = st.tuples(
    st.sampled_from(["", "host", "sev erity", "team"]),
    st.sampled_from(["=", "!=", "=~", "!~"]),
    st.sampled_from(["", "a", "(?=x)", "[z-a]", "db.*"]),
)


@settings(max_examples=100)
@given(rows=st.lists(ROW, max_size=8), prefix=st.sampled_from(["matcher", "source"]))
def test_each_filled_row_is_one_matcher_and_its_problems_come_back_to_it(
    rows: list[tuple[str, str, str]], prefix: str
) -> None:
    form = MultiDict(
        [
            (f"{prefix}_{part}_{index}", value)
            for index, row in enumerate(rows)
            for part, value in zip(("name", "op", "value"), row, strict=True)
        ]
    )
    matchers, numbers = matcher_rows.matchers_of(matcher_rows.rows_of(form, prefix))
    filled = [index for index, (name, _, value) in enumerate(rows) if name.strip() or value]
    assert numbers == filled
    assert [m["name"] for m in matchers] == [rows[index][0].strip() for index in filled]
    key = "matchers" if prefix == "matcher" else "source_matchers"
    body: dict[str, object] = {"name": "n", "position": 1, "matchers": matchers}
    if prefix == "source":
        body = {
            "name": "n",
            "source_matchers": matchers,
            "target_matchers": [{"name": "a", "value": "b"}],
        }
    try:
        parse_policy(body) if prefix == "matcher" else parse_inhibition(body)
    except RuleProblems as refused:
        for problem in refused.problems:
            placed = matcher_rows.row_problem(problem.field, problem.message, key, prefix, numbers)
            assert placed is not None, problem
            where, _ = placed
            if where != prefix:
                assert int(where.rsplit("-", 1)[1]) in filled


def test_policy_and_inhibition_problems_land_beside_their_fields() -> None:
    shown = policy_form.errors_by_field(
        [
            {"field": "matchers[1].value", "message": "must be RE2"},
            {"field": "group_wait", "message": "too long"},
            {"field": "colour", "message": "is not a field of a policy"},
        ],
        [0, 3],
    )
    assert shown == {
        "matcher-3": ["value must be RE2"],
        "group_wait": ["too long"],
        "form": ["colour: is not a field of a policy"],
    }
    placed = inhibition_form.errors_by_field(
        [
            {"field": "target_matchers[0].op", "message": "bad"},
            {"field": "source_matchers", "message": "x"},
        ],
        {"source": [], "target": [2]},
    )
    assert placed == {"target-2": ["op bad"], "source": ["x"]}


def test_the_default_policys_form_has_no_position_matchers_or_continue() -> None:
    form = MultiDict(
        [
            ("name", "d"),
            ("channel_id", "4"),
            ("channel_id", "x"),
            ("group_by", "rule,\nhost"),
            ("group_wait", ""),
        ]
    )
    body, numbers = policy_form.policy_body(form, default=True)
    assert body == {"name": "d", "channel_ids": [4, "x"], "group_by": ["rule", "host"]}
    assert numbers == []

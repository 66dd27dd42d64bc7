"""The config file as the web form reads and writes it: secrets masked and kept as references, new secrets saved in
the files ``connector form`` uses, the tabs' UI schemas found through the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from connector.host.facade import ConnectorHost
from connector.host.redaction import write_only_names
from connector.host.secret_files import secrets_dir_for
from connector.host.web.config_form import FILE_MASK, SECRET_MASK, ConfigForm, data_url_names
from connector.host.web.form_parts import form_parts, ui_schema_path, with_secret_widgets
from tests.support.examples import CANARY_SECRET


def make_form(path: Path) -> ConfigForm:
    return ConfigForm(path, secrets_dir_for(path, "dynamics365-ce"), {"oauth2": {"client_secret", "private_key"}})


def test_new_secrets_go_to_files_and_only_references_into_the_config(tmp_path: Path) -> None:
    form = make_form(tmp_path / "d365.json")
    config = form.merge(
        {
            "connection": {"base_url": "contoso.crm.dynamics.com", "connect_timeout_ms": None},
            "oauth2": {"grant_type": "client_credentials", "client_id": "app", "client_secret": CANARY_SECRET},
            "runtime": {"proxy": {}, "timeouts": {}},
        }
    )
    form.write(config)
    text = form.path.read_text()
    assert CANARY_SECRET not in text
    assert config["connection"] == {"base_url": "contoso.crm.dynamics.com"}
    assert "runtime" not in config  # nothing typed: no section
    reference = config["oauth2"]["client_secret"]
    assert reference == {"$file": str(tmp_path / "d365.json.secrets" / "oauth2_client_secret")}
    assert Path(reference["$file"]).read_text() == CANARY_SECRET
    assert Path(reference["$file"]).stat().st_mode & 0o777 == 0o600


def test_the_form_sees_masks_and_a_submitted_mask_keeps_the_reference(tmp_path: Path) -> None:
    certificate = tmp_path / "cert.pem"
    certificate.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----")
    key = tmp_path / "key.pem"
    key.write_text(CANARY_SECRET)
    path = tmp_path / "d365.json"
    raw = {
        "connection": {"base_url": "x"},
        "oauth2": {
            "client_secret": {"$env": "NOT_SET_ANYWHERE"},
            "jwt": {"signature_key": {"private_key": {"$file": str(key)}, "certificate": {"$file": str(certificate)}}},
        },
        "custom": {"kept": True},
    }
    path.write_text(json.dumps(raw))
    form = make_form(path)
    data = form.form_data()
    assert CANARY_SECRET not in json.dumps(data)
    assert data["oauth2"]["client_secret"] == SECRET_MASK
    signature_key = data["oauth2"]["jwt"]["signature_key"]
    assert signature_key["private_key"] == SECRET_MASK
    assert signature_key["certificate"].startswith("-----BEGIN CERTIFICATE-----")  # not a secret: shown

    merged = form.merge(data)
    assert merged["oauth2"] == raw["oauth2"]  # unchanged values keep their references
    assert merged["custom"] == {"kept": True}

    data["oauth2"]["jwt"]["signature_key"]["certificate"] = "pasted"
    data["oauth2"]["client_secret"] = ""
    merged = form.merge(data)
    assert merged["oauth2"]["jwt"]["signature_key"]["certificate"] == "pasted"
    assert "client_secret" not in merged["oauth2"]  # cleared


def test_runtime_problems_name_their_fields(tmp_path: Path) -> None:
    form = make_form(tmp_path / "d365.json")
    config = form.merge({"runtime": {"proxy": {"port": 3128, "password": CANARY_SECRET}}})
    problems = form.runtime_errors(config)
    assert [problem.path for problem in problems] == ["runtime.proxy.host"]
    assert CANARY_SECRET not in str(problems)


def test_ui_schemas_are_found_through_the_manifest_or_beside_the_schema() -> None:
    schemas = {"connection": "schemas/connection.schema.json", "oauth2": "schemas/oauth2.schema.json"}
    named = {"schemas": schemas, "ui_schemas": {"connection": "ui/c.ui.json", "oauth2": "ui/o.ui.json"}}
    assert ui_schema_path(named, "oauth2") == "ui/o.ui.json"
    inline = {"schemas": {**schemas, "oauth2_ui": "schemas/oauth2.ui.json"}}
    assert ui_schema_path(inline, "oauth2") == "schemas/oauth2.ui.json"
    assert ui_schema_path(inline, "connection") == "schemas/connection.ui.json"  # beside the schema
    assert ui_schema_path({}, "oauth2") is None


def test_the_installed_connector_has_its_two_tabs_and_the_runtime_tab() -> None:
    parts = form_parts(ConnectorHost(), "dynamics365-ce")
    assert [part.name for part in parts] == ["connection", "oauth2", "runtime"]
    runtime = parts[2].schema
    assert "callback_url" not in runtime["properties"]  # the web host's own
    assert set(runtime["properties"]) == {"proxy", "timeouts", "ca_bundle"}


def test_secrets_are_masked_wherever_the_schema_declares_them() -> None:
    schema = {
        "$defs": {"key": {"type": "object", "properties": {"pem": {"type": "string", "writeOnly": True}}}},
        "properties": {
            "kind": {"type": "string"},
            "token": {"type": "string", "writeOnly": True},
            "shown": {"type": "string", "writeOnly": True, "format": "password"},
            "chosen": {"type": "string", "writeOnly": True},
        },
        "allOf": [{"if": {}, "then": {"properties": {"key": {"$ref": "#/$defs/key"}}}}],
    }
    ui = with_secret_widgets(schema, {"chosen": {"ui:widget": "textarea"}})
    assert ui == {
        "token": {"ui:widget": "password"},
        "chosen": {"ui:widget": "textarea"},  # the connector's choice stands
        "key": {"pem": {"ui:widget": "password"}},
    }
    assert with_secret_widgets({"properties": {"a": {"type": "string"}}}, None) is None


def test_a_secret_in_a_oneof_option_is_masked_in_that_option_s_ui_schema() -> None:
    """rjsf draws option i of a oneOf with the UI schema's ``oneOf`` entry i: the widget goes there."""
    secret = {"type": "string", "writeOnly": True}
    schema = {
        "oneOf": [
            {"properties": {"kind": {"const": "a"}, "token": secret}},
            {"properties": {"kind": {"const": "b"}, "key": {"oneOf": [{"properties": {"pem": secret}}]}}},
            {"properties": {"kind": {"const": "c"}, "other": secret}},
        ]
    }
    ui = with_secret_widgets(schema, {"oneOf": [{"kind": {"ui:widget": "hidden"}}, {"key": {"oneOf": [{}]}}]})
    assert ui == {
        "oneOf": [
            {"kind": {"ui:widget": "hidden"}, "token": {"ui:widget": "password"}},
            {"key": {"oneOf": [{"pem": {"ui:widget": "password"}}]}},
        ],
        "other": {"ui:widget": "password"},  # no UI schema entry for the third option: rjsf uses the parent's
    }


def test_an_uploaded_secret_file_is_masked_as_a_valid_data_url(tmp_path: Path) -> None:
    path = tmp_path / "d365.json"
    schema = {"properties": {"pfx": {"type": "string", "writeOnly": True, "format": "data-url"}}}
    form = ConfigForm(
        path, tmp_path / "s", {"oauth2": write_only_names(schema)}, file_names={"oauth2": data_url_names(schema)}
    )
    upload = "data:application/x-pkcs12;name=app.pfx;base64,MIIK" + CANARY_SECRET
    form.write(form.merge({"oauth2": {"pfx": upload}}))
    data = form.form_data()
    assert data["oauth2"]["pfx"] == FILE_MASK
    assert form.merge(data)["oauth2"]["pfx"] == {"$file": str(tmp_path / "s" / "oauth2_pfx")}
    assert (tmp_path / "s" / "oauth2_pfx").read_text() == upload

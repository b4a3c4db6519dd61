"""The AWS-shaped commands (``batchrock get-model-invocation-job ...``), run by the AWS CLI's own driver.

``batchrock COMMAND ARGS`` is ``aws bedrock COMMAND ARGS`` with local defaults:
  * no ``--endpoint-url``: ``BATCHROCK_ENDPOINT_URL``, else an ``endpoint_url`` from the AWS
    config/environment, else the local server at http://127.0.0.1:8787;
  * no credentials anywhere: the local development credentials ``batchrock`` / ``batchrock``
    (account 000000000000), and region us-east-1 when none is configured;
  * ``--version`` prints batchrock's version;
  * ``--generate-cli-skeleton output`` prints a sample that satisfies the output shape's
    minimums (the AWS CLI v1 fails on Get/List there: its sample timeoutDurationInHours of 0
    is below the model's minimum of 24).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import botocore.session
from awscli.clidriver import create_clidriver
from awscli.customizations.generatecliskeleton import GenerateCliSkeletonArgument, StubbedCLIOperationCaller
from botocore import xform_name
from botocore.stub import Stubber
from botocore.utils import ArgumentGenerator

from batchrock import __version__, awsmodel
from batchrock.settings import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION

DEFAULT_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
DEV_ACCESS_KEY = "batchrock"
DEV_SECRET_KEY = "batchrock"
COMMANDS = tuple(xform_name(name, "-") for name in awsmodel.SERVED_OPERATIONS)


class MinimumRespectingGenerator(ArgumentGenerator):
    """ArgumentGenerator whose sample numbers meet the shape's ``min`` (so stubbed output validates)."""

    def _generate_skeleton(self, shape: Any, stack: list[str], name: str = "") -> Any:
        value = super()._generate_skeleton(shape, stack, name)
        if shape.type_name in ("integer", "long", "float", "double") and "min" in shape.metadata:
            return max(value, shape.metadata["min"])
        return value


class SampleOutputCaller(StubbedCLIOperationCaller):
    def _make_client_call(self, client: Any, operation_name: str, parameters: dict[str, Any], parsed_globals: Any) -> Any:
        method = xform_name(operation_name)
        shape = client.meta.service_model.operation_model(operation_name).output_shape
        sample = MinimumRespectingGenerator(use_member_names=True).generate_skeleton(shape) if shape else {}
        with Stubber(client) as stubber:
            stubber.add_response(method, sample)
            return getattr(client, method)(**parameters)


class SkeletonArgument(GenerateCliSkeletonArgument):
    def generate_json_skeleton(self, call_parameters: Any, parsed_args: Any, parsed_globals: Any, **kwargs: Any) -> Any:
        if getattr(parsed_args, "generate_cli_skeleton", None) == "output":
            operation = self._operation_model
            return SampleOutputCaller(self._session).invoke(
                operation.service_model.service_name, operation.name, call_parameters, parsed_globals)
        return super().generate_json_skeleton(call_parameters, parsed_args, parsed_globals, **kwargs)


def _replace_skeleton_argument(session: Any, operation_model: Any, argument_table: dict[str, Any], **kwargs: Any) -> None:
    original = argument_table.get("generate-cli-skeleton")
    if original is None or isinstance(original, SkeletonArgument):
        return
    session.unregister("calling-command.*", original.generate_json_skeleton)
    session.unregister("before-building-argument-table-parser", original.override_required_args)
    argument_table["generate-cli-skeleton"] = SkeletonArgument(session, operation_model)


def _configured_endpoint() -> bool:
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_BEDROCK"):
        return True
    try:
        config = botocore.session.get_session().get_scoped_config()
    except Exception:  # an unknown --profile is reported by the driver itself
        return False
    return bool(config.get("endpoint_url") or (config.get("bedrock") or {}).get("endpoint_url"))


def _has_credentials() -> bool:
    try:
        return botocore.session.get_session().get_credentials() is not None
    except Exception:
        return True  # let the driver report a broken profile as the AWS CLI would


def local_defaults(args: list[str]) -> list[str]:
    """The arguments and environment that point the driver at the local batchrock server."""
    if "--endpoint-url" not in args and not _configured_endpoint():
        args = [*args, "--endpoint-url", os.environ.get("BATCHROCK_ENDPOINT_URL", DEFAULT_ENDPOINT)]
    if "--no-sign-request" not in args and "--profile" not in args and not _has_credentials():
        os.environ["AWS_ACCESS_KEY_ID"] = DEV_ACCESS_KEY
        os.environ["AWS_SECRET_ACCESS_KEY"] = DEV_SECRET_KEY
    if "--region" not in args and not os.environ.get("AWS_DEFAULT_REGION") and not os.environ.get("AWS_REGION"):
        try:
            configured = botocore.session.get_session().get_config_variable("region")
        except Exception:
            configured = None
        if not configured:
            os.environ["AWS_DEFAULT_REGION"] = DEFAULT_REGION
    return args


def version_line() -> str:
    import awscli
    import botocore

    return f"batchrock/{__version__} aws-cli/{awscli.__version__} Python/{sys.version.split()[0]} botocore/{botocore.__version__}"


EXAMPLES = {
    "create-model-invocation-job": "batchrock create-model-invocation-job --job-name my-job "
                                   "--role-arn arn:aws:iam::123456789012:role/batch "
                                   "--model-id anthropic.claude-3-haiku-20240307-v1:0 "
                                   "--input-data-config s3InputDataConfig={s3Uri=s3://in/} "
                                   "--output-data-config s3OutputDataConfig={s3Uri=s3://out/}",
    "get-model-invocation-job": "batchrock get-model-invocation-job --job-identifier abcdefghij12 --output table",
    "list-model-invocation-jobs": "batchrock list-model-invocation-jobs --status-equals InProgress "
                                  "--query 'invocationJobSummaries[].jobName'",
    "stop-model-invocation-job": "batchrock stop-model-invocation-job --job-identifier abcdefghij12",
    "tag-resource": "batchrock tag-resource --resource-arn JOB_ARN --tags key=team,value=ml",
    "untag-resource": "batchrock untag-resource --resource-arn JOB_ARN --tag-keys team",
    "list-tags-for-resource": "batchrock list-tags-for-resource --resource-arn JOB_ARN --output text",
}


def run_aws_command(args: list[str]) -> int:
    if "--version" in args:
        print(version_line())
        return 0
    if "--help" in args or "-h" in args:  # the AWS CLI's manual page, after an example
        print(f"example:\n  {EXAMPLES[args[0]]}\n", flush=True)
        args = [args[0], "help"]
    driver = create_clidriver()
    driver.session.get_component("event_emitter").register_last("building-argument-table", _replace_skeleton_argument)
    code = driver.main(["bedrock", *local_defaults(args)])
    return 0 if code is None else int(code)  # like `aws`: sys.exit(None) for help

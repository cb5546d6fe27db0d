"""Sending an email channel's message with the standard library's smtplib, in a thread.

The async SMTP clients are asyncio-only, so smtplib runs through
`trio.to_thread.run_sync`. Its socket timeout (the read timeout) bounds each
wait; the whole conversation is bounded by the total timeout, after which
the thread is abandoned (it ends on its own socket timeout). With
MONITOR_OUTBOUND_REFUSE_PRIVATE the server's addresses are checked as the
HTTP client checks them, and the connection goes to the address checked
while TLS still verifies the certificate for the host name.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import trio

from monitor.outbound import (
    AddressCheck,
    Failure,
    OutboundLimits,
    OutboundResult,
    address_refused,
    tls_context,
)

SMTP_FAILURE = "smtp_error"


class _Refused(Exception):
    pass


def _pinned(
    base: type[smtplib.SMTP], limits: OutboundLimits, refused: AddressCheck
) -> type[smtplib.SMTP]:
    class Pinned(base):  # type: ignore[valid-type, misc]
        def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
            if not limits.refuse_private:
                return super()._get_socket(host, port, timeout)  # type: ignore[no-any-return]
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = list(dict.fromkeys(str(entry[4][0]) for entry in found))
            for text in addresses:
                if refused(ipaddress.ip_address(text.split("%", 1)[0])):
                    raise _Refused(
                        f"{host} resolves to {text}, which is not a public address "
                        "(MONITOR_OUTBOUND_REFUSE_PRIVATE is on)"
                    )
            # smtplib keeps `self._host` (the name) for TLS: the certificate is checked
            # against the name while the connection goes to the address checked.
            return super()._get_socket(addresses[0], port, timeout)  # type: ignore[no-any-return]

    return Pinned


def _send_blocking(
    settings: Mapping[str, Any],
    password: str | None,
    message: EmailMessage,
    limits: OutboundLimits,
    context: ssl.SSLContext,
    refused: AddressCheck,
) -> OutboundResult:
    security = settings["security"]
    host, port = settings["host"], settings["port"]
    base = smtplib.SMTP_SSL if security == "tls" else smtplib.SMTP
    kind = _pinned(base, limits, refused)
    options: dict[str, Any] = {"timeout": limits.read_timeout}
    if security == "tls":
        options["context"] = context
    try:
        with kind(host, port, **options) as client:
            if security == "starttls":
                client.starttls(context=context)
            if settings.get("username"):
                client.login(settings["username"], password or "")
            refused_recipients = client.send_message(message)
            reply = "accepted"
            if refused_recipients:
                reply = "refused some recipients: " + ", ".join(sorted(refused_recipients))
            return OutboundResult(status=250, body=reply)
    except _Refused as refusal:
        return OutboundResult(failure=Failure("refused_address", str(refusal)))
    except smtplib.SMTPAuthenticationError as problem:
        return _smtp_failure("the server refused the user name or password", problem)
    except smtplib.SMTPRecipientsRefused as problem:
        shown = ", ".join(sorted(problem.recipients))
        return OutboundResult(failure=Failure(SMTP_FAILURE, f"every recipient refused: {shown}"))
    except smtplib.SMTPResponseException as problem:
        return _smtp_failure("the server refused the message", problem)
    except smtplib.SMTPNotSupportedError as problem:
        return OutboundResult(failure=Failure(SMTP_FAILURE, f"not supported: {problem}"))
    except TimeoutError:
        return OutboundResult(failure=Failure("timeout", "the SMTP server did not answer in time"))
    except ssl.SSLError as problem:
        return OutboundResult(failure=Failure("tls_error", f"TLS failed: {problem}"[:500]))
    except (smtplib.SMTPException, OSError) as problem:
        text = f"{type(problem).__name__}: {problem}"
        return OutboundResult(failure=Failure("connect_error", text[:500]))


def _smtp_failure(what: str, problem: smtplib.SMTPResponseException) -> OutboundResult:
    answer = problem.smtp_error
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    return OutboundResult(
        status=problem.smtp_code,
        body=text[:500],
        failure=Failure(SMTP_FAILURE, f"{what}: {problem.smtp_code} {text}"[:500]),
    )


async def send_email(
    settings: Mapping[str, Any],
    password: str | None,
    message: EmailMessage,
    limits: OutboundLimits,
    *,
    context: ssl.SSLContext | None = None,
    refused: AddressCheck = address_refused,
) -> OutboundResult:
    """Send `message` through the channel's SMTP server; failures are results."""
    tls = context or tls_context()
    with trio.move_on_after(limits.total_timeout):
        return await trio.to_thread.run_sync(
            lambda: _send_blocking(settings, password, message, limits, tls, refused),
            abandon_on_cancel=True,
        )
    return OutboundResult(
        failure=Failure("timeout", f"the SMTP exchange took over {limits.total_timeout:g} s")
    )

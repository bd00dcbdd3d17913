"""The Ray runtime a search runs on: this machine's own (``address = local``) or a
cluster's, checked before ``ray.init`` so that a wrong address is one line naming the key."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import ray

from sparsemod.config import ConfigError, RaySettings
from sparsemod.interrupt import shielded

CONNECT_TIMEOUT_S = 10.0  # for a cluster's address to answer at all
# HTTP/2's connection preface, then an empty SETTINGS frame (RFC 9113, section 3.4)
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 0x4, 0, 0, 0, 0, 0])


def check_storage_folder(folder: Path) -> None:
    """A local ``storage_path`` that cannot be created is the config's error, before Ray starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"[RAY] storage_path: expected a folder sparsemod can create, got {str(folder)!r} "
                          f"({type(error).__name__}: {error.strerror or error})") from None


def speaks_http2(connection: socket.socket) -> bool:
    """Whether the server on ``connection`` answers as a gRPC server (Ray's GCS, a Ray Client
    server) does: to HTTP/2's client preface it replies with a SETTINGS frame, whose 9-byte
    header has type 0x4 (RFC 9113, sections 3.4 and 6.5)."""
    connection.sendall(HTTP2_PREFACE)
    header = b""
    try:
        while len(header) < 9 and (chunk := connection.recv(9 - len(header))):
            header += chunk
    except TimeoutError:  # accepted, but silent
        return False
    return len(header) == 9 and header[3] == 0x4


def start_ray(settings: RaySettings, debug: bool) -> None:
    """``ray.init`` for ``address``: this machine's own runtime (``local``) or a cluster's.

    An address where no cluster answers, or where something else does, is a one-line error
    naming the key: ``ray.init`` itself would retry it for ever.
    """
    address = None if settings.address == "local" else settings.address
    if address not in (None, "auto"):
        host, port = address.removeprefix("ray://").rsplit(":", 1)
        tls = os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true")  # TLS first: no preface to answer
        try:
            with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S) as connection:
                grpc = tls or speaks_http2(connection)
        except OSError as error:
            raise ConfigError(f"[RAY] address: nothing answers at {address} ({error.strerror or error}); "
                              "start the cluster (ray start --head) or set address = local") from None
        if not grpc:
            raise ConfigError(f"[RAY] address: {address} answers, but not as a Ray cluster (no gRPC reply "
                              f"within {CONNECT_TIMEOUT_S:g} s); give its head node's GCS port (6379 unless "
                              "ray start --port changed it; ray://: its client port, 10001)")
    # a cluster's nodes import sparsemod from the driver's copy
    runtime_env = None if address is None else {"py_modules": [str(Path(__file__).parent.parent)]}
    try:
        with shielded():  # ray.init replaces the search's SIGTERM handler; shielded() restores it
            ray.init(address=address, runtime_env=runtime_env, include_dashboard=False,
                     log_to_driver=debug, configure_logging=debug,
                     logging_level=logging.INFO if debug else logging.ERROR)
    except ConnectionError as error:  # auto: no cluster on this machine; an address: one that refused us
        reason = str(error).split(". ")[0]
        if address == "auto":
            raise ConfigError(f"[RAY] address: auto found no Ray cluster ({reason}); start one "
                              "(ray start --head) or set address = local") from None
        # Ray turns its token authentication on by itself for auto only, never for an address
        hint = ("" if os.environ.get("RAY_AUTH_MODE") else "; if its head node runs Ray's token "
                "authentication, run with RAY_AUTH_MODE=token (and its token in ~/.ray/auth_token or "
                "RAY_AUTH_TOKEN), or use address = auto on the head node")
        raise ConfigError(f"[RAY] address: the Ray cluster at {address} refused the connection ({reason}){hint}") from None
    if address is None:
        check_resources(settings)


def check_resources(settings: RaySettings) -> None:
    """On this machine's runtime, a trial asking for more than there is would wait for ever
    (Tune only warns): refuse it now, naming the key."""
    have = ray.cluster_resources()
    for key, resource in (("cpus_per_trial", "CPU"), ("gpus_per_trial", "GPU")):
        wanted, total = getattr(settings, key), have.get(resource, 0.0)
        if wanted > total:
            ray.shutdown()
            raise ConfigError(f"[RAY] {key}: expected at most the {total:g} {resource}s of this machine's "
                              f"Ray runtime (address = local), got {wanted:g}")

"""labgrid's coordinator, as edgebench uses it: places with tags, reservations that queue, exclusive holds.

One labgrid ``ClientSession`` runs on an event loop of its own thread; the board threads call the
blocking methods here, which hand each request to that loop. The requests are the coordinator's own
(``AcquirePlace``, ``CreateReservation``, ...): the coordinator, not edgebench, decides who holds a
board, so two people (or two edgebench runs) never measure on one board at once.
"""
from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from edgebench.errors import ConfigError, EdgebenchError
from edgebench.lab.ssh import Board, board_from

DEFAULT_COORDINATOR = "127.0.0.1:20408"
CONNECT_TIMEOUT_S = 15.0
INSTALL = 'labgrid is not installed: pip install "edgebench[lab]"'


class LabError(EdgebenchError):
    """The coordinator refused a request (its words are in the message)."""


def coordinator_address(given: str | None) -> str:
    """--coordinator, else labgrid's LG_COORDINATOR, else localhost (the coordinator has no authentication)."""
    return given or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def check_reachable(address: str) -> None:
    """A coordinator that accepts no connection is refused in one line before anything is built."""
    import socket

    host, _, port = address.rpartition(":") if ":" in address else (address, "", "20408")
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port or 20408)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"no labgrid coordinator answers at {address} ({exc}); start one (labgrid-coordinator "
                          f"-l {DEFAULT_COORDINATOR}) or give --coordinator HOST:PORT") from None


class LabClient:
    def __init__(self, address: str) -> None:
        try:
            from labgrid.remote.client import ClientSession
            from labgrid.remote.generated import labgrid_coordinator_pb2
            from labgrid.util.proxy import proxymanager
        except ImportError:
            raise ConfigError(INSTALL) from None
        self.pb2 = labgrid_coordinator_pb2
        self.address = proxymanager.get_grpc_address(address, default_port=20408)
        check_reachable(self.address)  # at once, not after gRPC's connection attempts
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="labgrid-client", daemon=True)
        self.thread.start()

        async def start() -> Any:
            session = ClientSession(self.address, asyncio.get_running_loop())
            await session.start()
            return session

        try:
            self.session = self._call(start(), CONNECT_TIMEOUT_S)
        except Exception as exc:
            self.loop.call_soon_threadsafe(self.loop.stop)
            raise ConfigError(f"no labgrid coordinator answers at {self.address} ({_words(exc)}); start one "
                              f"(labgrid-coordinator -l {DEFAULT_COORDINATOR}) or give --coordinator HOST:PORT") from None
        self.user = f"{self.session.gethostname()}/{self.session.getuser()}"

    def _call(self, coroutine: Any, timeout: float | None = 60.0) -> Any:
        import concurrent.futures

        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
            raise LabError(f"the coordinator at {self.address} did not answer within {timeout:.0f} s") from None

    def _request(self, method: str, request: Any) -> Any:
        import grpc

        async def send() -> Any:
            response = await getattr(self.session.stub, method)(request)
            await self.session.sync_with_coordinator()  # the place list reflects the change before we return
            return response

        try:
            return self._call(send())
        except grpc.aio.AioRpcError as exc:
            raise LabError(exc.details() or str(exc.code())) from None

    def close(self) -> None:
        try:
            self._call(self.session.stop(), 10)
            self._call(self.session.close(), 10)
        except Exception:  # a coordinator that is gone has nothing left to close
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)

    # what the coordinator knows
    def _snapshot(self) -> tuple[dict[str, Any], list[tuple[tuple[str, str, str, str], Any]]]:
        """The places and the NetworkService resources, copied on the session's own loop (its updates run there)."""
        async def copy() -> tuple[dict[str, Any], list]:
            await self.session.sync_with_coordinator()
            services = [((exporter, group, resource.cls, name), resource)
                        for exporter, groups in self.session.resources.items()
                        for group, resources in groups.items() for name, resource in resources.items()
                        if resource.cls == "NetworkService"]
            return dict(self.session.places), services

        return self._call(copy())

    def places(self) -> dict[str, Any]:
        return self._snapshot()[0]

    def reservations(self) -> list[Any]:
        from labgrid.remote.common import Reservation

        response = self._request("GetReservations", self.pb2.GetReservationsRequest())
        return [Reservation.from_pb2(item) for item in response.reservations]

    def boards(self, tags: dict[str, str]) -> tuple[list[Board], dict[str, str]]:
        """The places whose tags include ``tags`` (``name=PLACE`` names one), each with the address of the
        NetworkService it matches; and, for a matching place without one, why it cannot be used."""
        places, services = self._snapshot()
        found: list[Board] = []
        problems: dict[str, str] = {}
        for name, place in sorted(places.items()):
            if any({**place.tags, "name": name}.get(k) != v for k, v in tags.items()):
                continue
            matched = [resource for path, resource in services if place.hasmatch(path)]
            usable = [r for r in matched if r.avail]
            if not usable:
                problems[name] = "its exporter is not connected" if matched else "it matches no NetworkService resource"
                continue
            board, why = board_from(name, usable[0].params, dict(place.tags))
            if board is None:
                problems[name] = why
                continue
            found.append(board)
        return found, problems

    # holding a board
    def reserve(self, tags: dict[str, str]) -> str:
        fltr = self.pb2.Reservation.Filter(filter=tags)
        response = self._request("CreateReservation", self.pb2.CreateReservationRequest(
            filters={"main": fltr}, prio=0.0))
        return response.reservation.token

    def poll(self, token: str) -> tuple[str, str | None]:
        """The reservation's state (waiting, allocated, acquired, expired, invalid) and its place, if allocated.
        Polling also keeps a waiting reservation alive (the coordinator expires one not polled for a minute)."""
        from labgrid.remote.common import Reservation

        response = self._request("PollReservation", self.pb2.PollReservationRequest(token=token))
        reservation = Reservation.from_pb2(response.reservation)
        places = [p for group in reservation.allocations.values() for p in group]
        return reservation.state.name, (places[0] if places else None)

    def cancel(self, token: str) -> None:
        self._request("CancelReservation", self.pb2.CancelReservationRequest(token=token))

    def acquire(self, place: str) -> None:
        self._request("AcquirePlace", self.pb2.AcquirePlaceRequest(placename=place))

    def release(self, place: str) -> None:
        """Release a place this user holds (``fromuser``: a place someone else holds by now is left alone)."""
        self._request("ReleasePlace", self.pb2.ReleasePlaceRequest(placename=place, fromuser=self.user))

    def holder(self, place: str) -> str | None:
        found = self.places().get(place)
        return found.acquired if found else None

    # describing the lab
    def add_place(self, name: str, match: str, tags: dict[str, str]) -> None:
        if name not in self.places():
            self._request("AddPlace", self.pb2.AddPlaceRequest(name=name))
        if not any(m.ismatch(tuple(match.split("/"))) for m in self.places()[name].matches):
            self._request("AddPlaceMatch", self.pb2.AddPlaceMatchRequest(placename=name, pattern=match))
        if tags:
            self._request("SetPlaceTags", self.pb2.SetPlaceTagsRequest(placename=name, tags=tags))


def _words(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__

"""Server reflection (``grpc.reflection.v1`` and ``v1alpha``) over exactly the schemas a server serves.

grpcio-reflection serves whole ``.proto`` files from the default descriptor pool. Our contract files
hold a public service and an internal runtime side by side (``agent_service.proto`` has
``AgentService`` and ``AgentRuntime``), so the gateway would describe runtimes it never exposes.
Instead each server's reflection reads a pool of its own, built from the dependency closure of the
services it serves: every file those services need, with the services it does not serve and the
messages and enums none of its services reaches left out. The files keep their names, packages and
field numbers, so a client generated from ``protos/`` and one built by reflection agree.

``grpc.reflection.v1`` has the same messages as ``v1alpha`` under another package (the same bytes on
the wire), so one servicer answers both; the v1 file is described from the v1alpha one.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FileDescriptor, ServiceDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
V1 = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


def enable_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Serve reflection (v1 and v1alpha) on ``server`` for ``service_names`` (full names, health
    included when served), describing them and nothing else."""
    names = [*service_names, V1, V1ALPHA]
    servicer = ReflectionServicer(names, pool=served_pool(names))
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    for service in (V1, V1ALPHA):
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )


def served_pool(service_names: Iterable[str]) -> descriptor_pool.DescriptorPool:
    """A descriptor pool holding the services named (v1 reflection among them) and what they reach."""
    default = descriptor_pool.Default()
    services = [default.FindServiceByName(n if n != V1 else V1ALPHA) for n in service_names]
    kept = _reachable(services)
    served = {service.full_name for service in services}
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        added.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        if file.package.startswith("agentsuite."):  # our files: only what is served
            _prune(proto, file, kept, served)
        pool.AddSerializedFile(proto.SerializeToString())

    for service in services:
        add(service.file)
    if V1 in service_names:
        pool.AddSerializedFile(_v1_file().SerializeToString())
    return pool


def _reachable(services: list[ServiceDescriptor]) -> set[str]:
    """Full names of the top-level messages and enums that the services' methods reach."""
    kept: set[str] = set()
    pending: list[Descriptor | EnumDescriptor] = [
        t for s in services for m in s.methods for t in (m.input_type, m.output_type)
    ]
    while pending:
        item = pending.pop()
        while item.containing_type is not None:  # a nested type comes with its parent
            item = item.containing_type
        if item.full_name in kept:
            continue
        kept.add(item.full_name)
        if isinstance(item, Descriptor):
            pending.extend(_types_used(item))
    return kept


def _types_used(message: Descriptor) -> list[Descriptor | EnumDescriptor]:
    used: list[Descriptor | EnumDescriptor] = []
    for field in message.fields:
        used.extend(t for t in (field.message_type, field.enum_type) if t is not None)
    for nested in message.nested_types:
        used.extend(_types_used(nested))
    return used


def _prune(
    proto: descriptor_pb2.FileDescriptorProto, file: FileDescriptor, kept: set[str], served: set[str]
) -> None:
    prefix = f"{file.package}."
    for repeated, keep in (
        (proto.message_type, lambda m: prefix + m.name in kept),
        (proto.enum_type, lambda e: prefix + e.name in kept),
        (proto.service, lambda s: prefix + s.name in served),
    ):
        remaining = [item for item in repeated if keep(item)]
        del repeated[:]
        repeated.extend(remaining)


def _v1_file() -> descriptor_pb2.FileDescriptorProto:
    """``grpc/reflection/v1/reflection.proto``: the v1alpha file under the v1 package."""
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = f".{proto.package}.", ".grpc.reflection.v1."
    proto.name, proto.package = V1_FILE, "grpc.reflection.v1"
    proto.options.Clear()
    proto.options.java_package = "io.grpc.reflection.v1"
    proto.options.java_outer_classname = "ServerReflectionProto"
    proto.options.java_multiple_files = True
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(old, new)
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(old, new)
        method.output_type = method.output_type.replace(old, new)
    return proto

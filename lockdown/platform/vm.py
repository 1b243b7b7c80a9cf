"""Virtual-machine detection: pure parsing and classification, shared by every OS.

The OS modules gather raw facts (DMI/SMBIOS strings, the CPU's hypervisor flag,
``systemd-detect-virt``, ``sysctl``) and hand them here; the decisions are plain functions of
strings and bytes so they are tested with recorded values on any OS. The signatures follow what
hypervisors put in the firmware tables of their guests (SEB's ``VirtualMachineDetector`` checks the
same fields on Windows). A finding carries its evidence, so the environment check view and the
staff log say *why* a computer looks virtual.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from lockdown.platform.base import PlatformError
from lockdown.platform.checks import CheckResult, EnvironmentPolicy, decide


class SmbiosError(PlatformError):
    """The SMBIOS/DMI table bytes are not a valid table."""


@dataclass(frozen=True)
class DmiInfo:
    """Firmware identity strings (Linux ``/sys/class/dmi/id/<field>``, SMBIOS types 0-3)."""

    sys_vendor: str = ""
    product_name: str = ""
    product_version: str = ""
    board_vendor: str = ""
    board_name: str = ""
    bios_vendor: str = ""
    bios_version: str = ""
    chassis_vendor: str = ""

    def items(self) -> list[tuple[str, str]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


@dataclass(frozen=True)
class VmFinding:
    """What VM detection found: the hypervisor's name if known, and why it thinks so."""

    hypervisor: str | None = None
    evidence: tuple[str, ...] = ()

    @property
    def is_vm(self) -> bool:
        return bool(self.evidence)

    def describe(self) -> str:
        if not self.is_vm:
            return "No sign of a virtual machine was found."
        name = self.hypervisor or "an unknown hypervisor"
        because = "; ".join(self.evidence)
        return f"This computer appears to be a virtual machine ({name}): {because}."


# (pattern, hypervisor, fields it may appear in). Word boundaries keep "xen" out of "Xenon" and
# "kvm" out of product names that merely contain those letters.
_DMI_SIGNATURES: tuple[tuple[str, str, frozenset[str] | None], ...] = (
    (r"virtualbox|innotek", "VirtualBox", None),
    (r"vmware", "VMware", None),
    (r"\bqemu\b|standard pc \((?:q35|i440fx)", "QEMU/KVM", None),
    (r"\bseabios\b|\bbochs\b", "QEMU/KVM", None),
    (r"\bkvm\b", "KVM", None),
    (r"\bxen\b|\bhvm domu\b", "Xen", None),
    (r"\bhyper-v\b", "Microsoft Hyper-V", None),
    (r"\bparallels\b", "Parallels", None),
    (r"\bbhyve\b", "bhyve", None),
    (r"amazon ec2", "Amazon EC2", frozenset({"sys_vendor", "bios_vendor", "product_name"})),
    (r"google compute engine", "Google Compute Engine", None),
    (r"openstack", "OpenStack", frozenset({"sys_vendor", "product_name"})),
    (r"digitalocean|droplet", "DigitalOcean", frozenset({"sys_vendor", "product_name"})),
    (r"\bnutanix\b|\bahv\b", "Nutanix AHV", frozenset({"sys_vendor", "product_name"})),
    (r"virtualization generic platform", "Apple Virtualization", None),
)
# Microsoft makes Surface hardware too: only its "Virtual Machine" product is Hyper-V/Azure.
_MICROSOFT_VM_PRODUCT = "virtual machine"


def detect_vm_from_dmi(info: DmiInfo) -> VmFinding:
    """Classify firmware identity strings; bare metal yields an empty finding."""
    hypervisor: str | None = None
    evidence: list[str] = []
    for field_name, value in info.items():
        lowered = value.lower()
        if not lowered:
            continue
        for pattern, name, only_in in _DMI_SIGNATURES:
            if only_in is not None and field_name not in only_in:
                continue
            if re.search(pattern, lowered):
                hypervisor = hypervisor or name
                evidence.append(f"{field_name} is {value.strip()!r}")
                break
    if (
        "microsoft" in info.sys_vendor.lower()
        and _MICROSOFT_VM_PRODUCT in info.product_name.lower()
    ):
        hypervisor = hypervisor or "Microsoft Hyper-V"
        evidence.append(f"product_name is {info.product_name.strip()!r} by Microsoft")
    return VmFinding(hypervisor, tuple(evidence))


def cpuinfo_has_hypervisor_flag(cpuinfo: str) -> bool:
    """True when ``/proc/cpuinfo`` lists the ``hypervisor`` flag (x86 hypervisors set it)."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags" and "hypervisor" in value.split():
            return True
    return False


def parse_detect_virt(stdout: str, returncode: int) -> str | None:
    """The hypervisor ``systemd-detect-virt --vm`` names, or ``None`` for bare metal.

    It prints ``none`` and exits 1 on bare metal; otherwise it prints an identifier such as
    ``kvm``, ``oracle``, ``vmware``, ``microsoft`` or ``xen`` and exits 0.
    """
    name = stdout.strip().splitlines()[0].strip() if stdout.strip() else ""
    if returncode != 0 or not name or name == "none":
        return None
    return name


def parse_sysctl(output: str) -> dict[str, str]:
    """Parse ``sysctl`` output lines, macOS ``key: value`` or BSD/Linux ``key = value``."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?::|=)\s?(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def detect_vm_from_sysctl(values: Mapping[str, str]) -> VmFinding:
    """Classify macOS ``sysctl`` values.

    ``kern.hv_vm_present`` is 1 inside a macOS guest of Apple's Virtualization framework (and
    of other hypervisors on recent macOS); Intel CPUs under a hypervisor list ``VMM`` in
    ``machdep.cpu.features``; ``hw.model`` names the virtual hardware of most hypervisors.
    """
    hypervisor: str | None = None
    evidence: list[str] = []
    if values.get("kern.hv_vm_present", "").strip() == "1":
        evidence.append("kern.hv_vm_present is 1")
    if "VMM" in values.get("machdep.cpu.features", "").upper().split():
        evidence.append("the CPU features include VMM (hypervisor)")
    model = values.get("hw.model", "")
    for needle, name in (
        ("virtualmac", "Apple Virtualization"),
        ("vmware", "VMware"),
        ("parallels", "Parallels"),
        ("virtualbox", "VirtualBox"),
    ):
        if needle in model.lower():
            hypervisor = name
            evidence.append(f"hw.model is {model!r}")
            break
    return VmFinding(hypervisor, tuple(evidence))


def merge_findings(findings: Iterable[VmFinding]) -> VmFinding:
    """Combine findings from several sources: the first named hypervisor, all the evidence."""
    hypervisor: str | None = None
    evidence: list[str] = []
    for finding in findings:
        hypervisor = hypervisor or finding.hypervisor
        evidence.extend(finding.evidence)
    return VmFinding(hypervisor, tuple(evidence))


# SMBIOS structure types and the offsets of their string-number fields (DMTF DSP0134).
_SMBIOS_FIELDS: dict[int, dict[int, str]] = {
    0: {0x04: "bios_vendor", 0x05: "bios_version"},
    1: {0x04: "sys_vendor", 0x05: "product_name", 0x06: "product_version"},
    2: {0x04: "board_vendor", 0x05: "board_name"},
    3: {0x04: "chassis_vendor"},
}
_SMBIOS_END = 127


def parse_smbios_structures(table: bytes) -> DmiInfo:
    """Read the identity strings from a raw SMBIOS structure table.

    The same bytes are in Linux's ``/sys/firmware/dmi/tables/DMI`` and after the 8-byte header of
    Windows' ``GetSystemFirmwareTable('RSMB')``. Raises :class:`SmbiosError` for truncated data.
    """
    found: dict[str, str] = {}
    offset = 0
    while offset + 4 <= len(table):
        kind, length = table[offset], table[offset + 1]
        if length < 4:
            raise SmbiosError(f"SMBIOS structure at byte {offset} has an invalid length {length}.")
        formatted_end = offset + length
        if formatted_end > len(table):
            raise SmbiosError(f"SMBIOS structure at byte {offset} runs past the end of the table.")
        strings_end = table.find(b"\0\0", formatted_end)
        if strings_end < 0:
            raise SmbiosError(f"SMBIOS structure at byte {offset} has unterminated strings.")
        raw_strings = table[formatted_end:strings_end]
        strings = [s.decode("latin-1").strip() for s in raw_strings.split(b"\0")]
        for field_offset, field_name in _SMBIOS_FIELDS.get(kind, {}).items():
            if field_name in found or field_offset >= length:
                continue
            number = table[offset + field_offset]
            if raw_strings and 1 <= number <= len(strings):
                found[field_name] = strings[number - 1]
        if kind == _SMBIOS_END:
            break
        offset = strings_end + 2
    return DmiInfo(**found)


_RAW_SMBIOS_HEADER = struct.Struct("<BBBBI")


def parse_raw_smbios_data(buffer: bytes) -> DmiInfo:
    """Parse Windows' ``RawSMBIOSData`` (``GetSystemFirmwareTable('RSMB', 0)``).

    Layout: Used20CallingMethod, SMBIOSMajorVersion, SMBIOSMinorVersion, DmiRevision (one byte
    each), Length (DWORD), then ``Length`` bytes of structure table.
    """
    if len(buffer) < _RAW_SMBIOS_HEADER.size:
        raise SmbiosError("The SMBIOS data is shorter than its header.")
    *_, length = _RAW_SMBIOS_HEADER.unpack_from(buffer)
    table = buffer[_RAW_SMBIOS_HEADER.size : _RAW_SMBIOS_HEADER.size + length]
    if len(table) < length:
        raise SmbiosError(f"The SMBIOS table is {len(table)} bytes, its header says {length}.")
    return parse_smbios_structures(table)


VM_ADVICE = (
    "Sit the exam on the computer itself, not inside a virtual machine. If this is your "
    "institution's virtual desktop, tell the invigilator so it can be added to the allow-list."
)


def vm_check(
    finding: VmFinding, policy: EnvironmentPolicy, *, hostname: str | None = None
) -> CheckResult:
    """The environment check result for a VM finding under ``policy`` (with its allow-lists)."""
    allowed: str | None = None
    if finding.is_vm and policy.hypervisor_allowed(finding.hypervisor):
        allowed = "Its hypervisor is on the institution's allow-list."
    elif finding.is_vm and policy.hostname_allowed(hostname):
        allowed = "This computer is on the institution's allow-list."
    return decide(
        "virtual-machine",
        policy.vm,
        found=finding.is_vm,
        detail=finding.describe(),
        advice=VM_ADVICE,
        clear_detail=finding.describe(),
        allowed_detail=allowed,
    )

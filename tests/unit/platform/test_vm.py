"""VM detection: DMI strings, CPU flags, systemd-detect-virt, sysctl and raw SMBIOS tables."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from lockdown.platform.checks import EnvironmentPolicy
from lockdown.platform.vm import (
    DmiInfo,
    SmbiosError,
    VmFinding,
    cpuinfo_has_hypervisor_flag,
    detect_vm_from_dmi,
    detect_vm_from_sysctl,
    merge_findings,
    parse_detect_virt,
    parse_raw_smbios_data,
    parse_smbios_structures,
    parse_sysctl,
    vm_check,
)

FIXTURES = Path(__file__).parent / "fixtures"
DMI_CASES: dict[str, Any] = {
    k: v
    for k, v in json.loads((FIXTURES / "dmi.json").read_text(encoding="utf-8")).items()
    if not k.startswith("_")
}


@pytest.mark.parametrize("machine", sorted(DMI_CASES))
def test_dmi_fixtures(machine: str) -> None:
    case = DMI_CASES[machine]
    finding = detect_vm_from_dmi(DmiInfo(**case["fields"]))
    assert finding.hypervisor == case["expected"]
    assert finding.is_vm is (case["expected"] is not None)
    if finding.is_vm:
        assert finding.evidence
        assert case["expected"] in finding.describe()
    else:
        assert finding.describe() == "No sign of a virtual machine was found."


def test_dmi_evidence_names_the_field_and_value() -> None:
    finding = detect_vm_from_dmi(DmiInfo(**DMI_CASES["virtualbox"]["fields"]))
    assert "product_name is 'VirtualBox'" in finding.evidence
    assert "sys_vendor is 'innotek GmbH'" in finding.evidence


def test_empty_dmi_is_not_a_vm() -> None:
    assert not detect_vm_from_dmi(DmiInfo()).is_vm


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("cpuinfo_kvm_guest.txt", True),
        ("cpuinfo_bare_metal.txt", False),
        ("cpuinfo_arm64.txt", False),
    ],
)
def test_cpuinfo_hypervisor_flag(fixture: str, expected: bool) -> None:
    assert cpuinfo_has_hypervisor_flag((FIXTURES / fixture).read_text(encoding="utf-8")) is expected


def test_cpuinfo_flag_must_be_a_whole_word_in_flags() -> None:
    assert not cpuinfo_has_hypervisor_flag("model name : hypervisor-ready CPU\nflags : fpu vme\n")
    assert not cpuinfo_has_hypervisor_flag("flags : fpu hypervisor_x\n")
    assert cpuinfo_has_hypervisor_flag("flags\t\t: fpu hypervisor\n")


@pytest.mark.parametrize(
    ("stdout", "code", "expected"),
    [
        ("kvm\n", 0, "kvm"),
        ("oracle\n", 0, "oracle"),
        ("none\n", 1, None),
        ("", 0, None),
        ("", 124, None),
        ("microsoft\n", 0, "microsoft"),
    ],
)
def test_parse_detect_virt(stdout: str, code: int, expected: str | None) -> None:
    assert parse_detect_virt(stdout, code) == expected


def test_parse_sysctl_both_formats() -> None:
    text = "kern.hv_vm_present: 1\nhw.model = VirtualMac2,1\nnot a line\nkern.empty: \n"
    assert parse_sysctl(text) == {
        "kern.hv_vm_present": "1",
        "hw.model": "VirtualMac2,1",
        "kern.empty": "",
    }


@pytest.mark.parametrize(
    ("fixture", "hypervisor", "is_vm"),
    [
        ("sysctl_apple_silicon_vm.txt", "Apple Virtualization", True),
        ("sysctl_apple_silicon_mac.txt", None, False),
        ("sysctl_intel_vmware.txt", "VMware", True),
        ("sysctl_intel_mac.txt", None, False),
    ],
)
def test_sysctl_fixtures(fixture: str, hypervisor: str | None, is_vm: bool) -> None:
    values = parse_sysctl((FIXTURES / fixture).read_text(encoding="utf-8"))
    finding = detect_vm_from_sysctl(values)
    assert finding.hypervisor == hypervisor
    assert finding.is_vm is is_vm


def test_sysctl_vmm_flag_alone_is_a_vm() -> None:
    finding = detect_vm_from_sysctl({"machdep.cpu.features": "FPU VME VMM SSE"})
    assert finding.is_vm
    assert finding.hypervisor is None
    assert "an unknown hypervisor" in finding.describe()


def test_merge_keeps_first_name_and_all_evidence() -> None:
    merged = merge_findings(
        [VmFinding(None, ("cpu flag",)), VmFinding("KVM", ("detect-virt",)), VmFinding("X", ())]
    )
    assert merged == VmFinding("KVM", ("cpu flag", "detect-virt"))
    assert not merge_findings([]).is_vm


# -- SMBIOS -------------------------------------------------------------------------------------


def structure(kind: int, handle: int, fields: bytes, strings: list[str]) -> bytes:
    """One SMBIOS structure: header, formatted area, string set (double-NUL terminated)."""
    formatted = struct.pack("<BBH", kind, 4 + len(fields), handle) + fields
    if not strings:
        return formatted + b"\0\0"
    return formatted + b"".join(s.encode("latin-1") + b"\0" for s in strings) + b"\0"


def vmware_table() -> bytes:
    return b"".join(
        [
            # type 0 BIOS: vendor = string 1, version = string 2, then start segment etc.
            structure(0, 0, bytes([1, 2, 0, 0]) + bytes(14), ["Phoenix Technologies LTD", "6.00"]),
            # type 1 system: manufacturer 1, product 2, version 3, serial 4
            structure(
                1,
                1,
                bytes([1, 2, 3, 4]) + bytes(23),
                ["VMware, Inc.", "VMware Virtual Platform", "None", "VMware-56 4d"],
            ),
            # type 2 baseboard: manufacturer 1, product 2
            structure(
                2, 2, bytes([1, 2, 0, 0]), ["Intel Corporation", "440BX Desktop Reference Platform"]
            ),
            # type 3 chassis: manufacturer 1
            structure(3, 3, bytes([1, 1, 0, 0, 0]), ["No Enclosure"]),
            # type 4 processor: ignored
            structure(4, 4, bytes([1]) + bytes(30), ["CPU #000"]),
            structure(127, 5, b"", []),
        ]
    )


def test_parse_smbios_structures_reads_identity_strings() -> None:
    info = parse_smbios_structures(vmware_table())
    assert info == DmiInfo(
        sys_vendor="VMware, Inc.",
        product_name="VMware Virtual Platform",
        product_version="None",
        board_vendor="Intel Corporation",
        board_name="440BX Desktop Reference Platform",
        bios_vendor="Phoenix Technologies LTD",
        bios_version="6.00",
        chassis_vendor="No Enclosure",
    )
    assert detect_vm_from_dmi(info).hypervisor == "VMware"


def test_parse_raw_smbios_data_skips_the_windows_header() -> None:
    table = vmware_table()
    raw = struct.pack("<BBBBI", 0, 3, 4, 0, len(table)) + table
    assert parse_raw_smbios_data(raw).sys_vendor == "VMware, Inc."


def test_smbios_string_number_zero_means_no_string() -> None:
    table = structure(1, 0, bytes([0, 1, 0, 0]), ["Only product"]) + structure(127, 1, b"", [])
    assert parse_smbios_structures(table) == DmiInfo(product_name="Only product")


def test_smbios_structure_without_strings() -> None:
    table = structure(1, 0, bytes([1, 2, 0, 0]), []) + structure(127, 1, b"", [])
    assert parse_smbios_structures(table) == DmiInfo()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes([1, 2, 0, 0]), "invalid length 2"),
        (bytes([1, 30, 0, 0, 1]), "runs past the end"),
        (struct.pack("<BBH", 1, 4, 0) + b"abc", "unterminated strings"),
    ],
)
def test_corrupt_smbios_tables_raise(data: bytes, message: str) -> None:
    with pytest.raises(SmbiosError, match=message):
        parse_smbios_structures(data)


def test_raw_smbios_length_is_checked() -> None:
    with pytest.raises(SmbiosError, match="shorter than its header"):
        parse_raw_smbios_data(b"\0\3")
    with pytest.raises(SmbiosError, match="header says 100"):
        parse_raw_smbios_data(struct.pack("<BBBBI", 0, 3, 4, 0, 100) + b"\0\0")


# -- the check ----------------------------------------------------------------------------------

KVM = VmFinding("Microsoft Hyper-V", ("product_name is 'Virtual Machine' by Microsoft",))


def test_vm_check_default_warns_with_advice() -> None:
    result = vm_check(KVM, EnvironmentPolicy(), hostname="laptop")
    assert result.name == "virtual-machine"
    assert result.status == "warn"
    assert "Microsoft Hyper-V" in result.detail
    assert "allow-list" in result.advice


def test_vm_check_deny_and_allow_lists() -> None:
    deny = EnvironmentPolicy(vm="deny")
    assert vm_check(KVM, deny, hostname="laptop").status == "deny"
    by_host = EnvironmentPolicy(vm="deny", allowed_hostnames=("avd-*",))
    assert vm_check(KVM, by_host, hostname="avd-17").status == "pass"
    by_hypervisor = EnvironmentPolicy(vm="deny", allowed_hypervisors=("hyper-v",))
    result = vm_check(KVM, by_hypervisor, hostname="laptop")
    assert result.status == "pass"
    assert "allow-list" in result.detail


def test_vm_check_bare_metal_passes_even_under_deny() -> None:
    result = vm_check(VmFinding(), EnvironmentPolicy(vm="deny"), hostname="x")
    assert result.status == "pass"

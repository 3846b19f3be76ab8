package xl

// PhysInfo mirrors libxl_physinfo (xl info).
type PhysInfo struct {
	ThreadsPerCore    uint32
	CoresPerSocket    uint32
	MaxCPUID          uint32
	NrCPUs            uint32
	CPUkHz            uint32
	NrNodes           uint32
	TotalPages        uint64
	FreePages         uint64
	ScrubPages        uint64
	OutstandingPages  uint64
	SharingFreedPages uint64
	SharingUsedFrames uint64
	MaxPossibleMFN    uint64

	// XenMajor.XenMinor is the running hypervisor's version (0.0 when
	// unknown): a few of libxl's behaviours differ by it.
	XenMajor, XenMinor int
	// XenCommandline is the hypervisor's command line (xl's autoballoon
	// "auto" is off when it sets dom0_mem=).
	XenCommandline string

	CapHVM bool
	CapPV  bool
	// CapHVMDirectIO is what libxl reads as "an IOMMU is enabled": without
	// it no domain can be given a PCI device.
	CapHVMDirectIO     bool
	CapHAP             bool
	CapShadow          bool
	CapIOMMUHAPPTShare bool
	CapVmtrace         bool
	CapVpmu            bool
	CapGnttabV1        bool
	CapGnttabV2        bool
}

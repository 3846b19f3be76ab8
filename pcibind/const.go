package pcibind

// Config space sizes: what an unprivileged reader gets, the conventional
// header plus capabilities, and the PCIe extended space.
const (
	ConfigSizeUser   = 64
	ConfigSizeLegacy = 256
	ConfigSizeExt    = 4096
)

// Offsets in the common header (type 0 and 1).
const (
	RegVendorID   = 0x00
	RegDeviceID   = 0x02
	RegCommand    = 0x04
	RegStatus     = 0x06
	RegRevision   = 0x08
	RegProgIf     = 0x09
	RegSubClass   = 0x0a
	RegBaseClass  = 0x0b
	RegHeaderType = 0x0e
	RegBAR0       = 0x10
	RegCapPtr     = 0x34 // type 0 and type 1
	RegIntLine    = 0x3c
	RegIntPin     = 0x3d

	// Type 0 (endpoint) only.
	RegSubsysVendor = 0x2c
	RegSubsysID     = 0x2e

	// Type 1 (bridge) only.
	RegPrimaryBus     = 0x18
	RegSecondaryBus   = 0x19
	RegSubordinateBus = 0x1a

	// Type 2 (CardBus) keeps its capability pointer elsewhere.
	RegCardbusCapPtr = 0x14
)

// Header types (low 7 bits of RegHeaderType); bit 7 means multi-function.
const (
	HeaderNormal      = 0
	HeaderBridge      = 1
	HeaderCardbus     = 2
	HeaderMultiFunc   = 0x80
	HeaderTypeMask    = 0x7f
	StatusCapList     = 0x0010 // RegStatus: a capability list is present
	CapPtrMask        = 0xfc   // pointers are dword aligned; low bits reserved
	ExtCapStart       = 0x100
	ExtCapNextShift   = 20
	ExtCapNextMask    = 0xffc
	ExtCapIDMask      = 0xffff
	capHopLimit       = 48 // as Linux's PCI_FIND_CAP_TTL
	extCapHopLimit    = (ConfigSizeExt - ConfigSizeLegacy) / 8
	classBridgePCI    = 0x0604
	classBridgeHost   = 0x0600
	classBridgeCardbs = 0x0607
)

// Standard capability IDs.
const (
	CapPM     = 0x01
	CapAGP    = 0x02
	CapVPD    = 0x03
	CapSlotID = 0x04
	CapMSI    = 0x05
	CapHotSwp = 0x06
	CapPCIX   = 0x07
	CapHT     = 0x08
	CapVendor = 0x09
	CapDebug  = 0x0a
	CapSSVID  = 0x0d // bridge subsystem vendor/device
	CapPCIe   = 0x10
	CapMSIX   = 0x11
	CapSATA   = 0x12
	CapAF     = 0x13
	CapEA     = 0x14
)

// Extended capability IDs.
const (
	ExtCapAER    = 0x01
	ExtCapVC     = 0x02
	ExtCapDSN    = 0x03
	ExtCapPwr    = 0x04
	ExtCapVendor = 0x0b
	ExtCapACS    = 0x0d
	ExtCapARI    = 0x0e
	ExtCapATS    = 0x0f
	ExtCapSRIOV  = 0x10
	ExtCapLTR    = 0x18
	ExtCapL1SS   = 0x1e
	ExtCapPASID  = 0x1b
	ExtCapDLF    = 0x25
	ExtCapPL16   = 0x26
)

// Power Management capability (offsets from the capability).
const (
	PMCap           = 0x02 // PMC, 16 bits
	PMCtrl          = 0x04 // PMCSR, 16 bits
	PMCapVerMask    = 0x0007
	PMCapD1         = 0x0200
	PMCapD2         = 0x0400
	PMCapPMEMask    = 0xf800
	PMCtrlStateMask = 0x0003
	PMCtrlNoSoftRst = 0x0008 // no reset on D3hot->D0: a PM reset does nothing
)

// PCI Express capability (offsets from the capability).
const (
	PCIeFlags      = 0x02 // 16 bits
	PCIeDevCap     = 0x04 // 32 bits
	PCIeDevCtl     = 0x08
	PCIeDevSta     = 0x0a
	PCIeLinkCap    = 0x0c
	PCIeLinkCtl    = 0x10
	PCIeLinkSta    = 0x12
	PCIeSlotCap    = 0x14
	PCIeDevCap2    = 0x24
	PCIeDevCtl2    = 0x28
	PCIeFlagsVers  = 0x000f
	PCIeFlagsType  = 0x00f0
	PCIeFlagsSlot  = 0x0100
	PCIeDevCapFLR  = 0x10000000
	PCIeDevCapPhan = 0x00000018 // phantom functions supported
	PCIeDevCapMPS  = 0x00000007
	PCIeDevCap2ARI = 0x00000020 // ARI forwarding (downstream ports)
)

// PCIe device/port types (PCIeFlagsType >> 4).
const (
	PCIeEndpoint       = 0x0
	PCIeLegacyEndpoint = 0x1
	PCIeRootPort       = 0x4
	PCIeUpstreamPort   = 0x5
	PCIeDownstreamPort = 0x6
	PCIeToPCIBridge    = 0x7
	PCIToPCIeBridge    = 0x8
	PCIeRCEndpoint     = 0x9
	PCIeRCEventColl    = 0xa
)

// Advanced Features capability.
const (
	AFLength = 0x02
	AFCap    = 0x03
	AFCtrl   = 0x04
	AFStatus = 0x05
	AFCapTP  = 0x01
	AFCapFLR = 0x02
)

// ACS extended capability.
const (
	ACSCap  = 0x04   // 16 bits
	ACSCtrl = 0x06   // 16 bits
	ACSSV   = 0x0001 // source validation
	ACSTB   = 0x0002 // translation blocking
	ACSRR   = 0x0004 // P2P request redirect
	ACSCR   = 0x0008 // P2P completion redirect
	ACSUF   = 0x0010 // upstream forwarding
	ACSEC   = 0x0020 // P2P egress control
	ACSDT   = 0x0040 // direct translated P2P
	// ACSIsolation are the control bits Linux and libvirt require of a
	// downstream port for its devices to count as isolated.
	ACSIsolation = ACSSV | ACSRR | ACSCR | ACSUF
)

// ARI extended capability.
const (
	ARICap      = 0x04 // 16 bits
	ARICtrl     = 0x06
	ARICapMFVC  = 0x0001
	ARICapACS   = 0x0002
	ARINextMask = 0xff00
)

// SR-IOV extended capability.
const (
	SRIOVCap        = 0x04 // 32 bits
	SRIOVCtrl       = 0x08 // 16 bits
	SRIOVStatus     = 0x0a
	SRIOVInitialVFs = 0x0c
	SRIOVTotalVFs   = 0x0e
	SRIOVNumVFs     = 0x10
	SRIOVFuncLink   = 0x12 // 8 bits
	SRIOVVFOffset   = 0x14
	SRIOVVFStride   = 0x16
	SRIOVVFDevice   = 0x1a
	SRIOVSupPgSize  = 0x1c
	SRIOVSysPgSize  = 0x20
	SRIOVBAR0       = 0x24
	SRIOVCtrlVFE    = 0x0001 // VF enable
	SRIOVCtrlMSE    = 0x0008 // VF memory space enable
	SRIOVCtrlARI    = 0x0010 // ARI capable hierarchy
	SRIOVCapVFM     = 0x00000001
)

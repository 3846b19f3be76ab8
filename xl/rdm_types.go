package xl

// PageSize is Xen's page size on x86, the unit of RdmRegion.
const PageSize = 4096

// RdmRegion is one reserved device memory region as Xen reports it
// (struct xen_reserved_device_memory), in 4 KiB pages.
type RdmRegion struct {
	StartPFN uint64
	NrPages  uint64
}

// Start is the first byte of the region.
func (r RdmRegion) Start() uint64 { return r.StartPFN * PageSize }

// End is the byte after the region.
func (r RdmRegion) End() uint64 { return (r.StartPFN + r.NrPages) * PageSize }

// Size is the region's length in bytes.
func (r RdmRegion) Size() uint64 { return r.NrPages * PageSize }

// PodTarget is a domain's populate-on-demand state
// (xc_domain_get_pod_target). PodEntries > 0 means the guest still has
// unpopulated memory, which device passthrough cannot work with.
type PodTarget struct {
	TotPages      uint64
	PodCachePages uint64
	PodEntries    uint64
}

package metrics

import (
	"context"
	"time"

	"github.com/comfylauncher/launcher/agent/internal/gpu"
	"github.com/comfylauncher/launcher/agent/internal/hub"
	"github.com/comfylauncher/launcher/agent/internal/models"
	"github.com/comfylauncher/launcher/agent/internal/project"
	"github.com/comfylauncher/launcher/agent/internal/recovery"
	"github.com/comfylauncher/launcher/agent/internal/recovery/breaker"
	"github.com/prometheus/client_golang/prometheus"
)

// gpuQueryTimeout bounds the GPU snapshot one scrape may wait for (it normally answers from
// the last nvidia-smi query).
const gpuQueryTimeout = 5 * time.Second

// HubStats is what *hub.Hub offers: its connected clients and dropped slow clients.
type HubStats interface{ Stats() hub.Stats }

// Hub exports the event hub's clients.
func Hub(h HubStats) prometheus.Collector {
	return &collector{
		descs: []*prometheus.Desc{descClients, descSessions, descDropped},
		collect: func(ch chan<- prometheus.Metric) {
			s := h.Stats()
			ch <- gauge(descClients, float64(s.WS), "ws")
			ch <- gauge(descClients, float64(s.SocketIO), "socketio")
			ch <- gauge(descSessions, float64(s.Sessions))
			ch <- counter(descDropped, float64(s.Overflows))
		},
	}
}

var (
	descClients  = desc("event_clients", "Clients connected for events, by transport: ws (/ws) or socketio (/socket.io/ sockets).", "transport")
	descSessions = desc("socketio_sessions", "Engine.IO sessions, including those that have not sent a Socket.IO CONNECT yet.")
	descDropped  = desc("event_clients_dropped_total", "Event clients disconnected because they read too slowly and their queue overflowed.")
)

// OperationSource is what *recovery.Runner offers: its operations, history and breakers.
type OperationSource interface {
	List(recovery.Filter) ([]recovery.Operation, error)
	Totals() recovery.Totals
	Breakers() []recovery.BreakerStatus
}

var (
	descOps          = desc("operations", "Durable operations the agent keeps, by function and state.", "function", "state")
	descRetries      = desc("operation_retries_total", "Retry attempts the runner made after a failed step (persisted across restarts).")
	descOpsFinished  = desc("operations_finished_total", "Operations that reached a terminal state, by state (persisted across restarts).", "state")
	descBreakerState = desc("operation_breaker_state", "Circuit breaker per operation type and target host: 1 for the state it is in, 0 for the others.", "operation_type", "target", "state")
	descBreakerTrips = desc("operation_breaker_trips_total", "Times a circuit breaker opened, per operation type and target host.", "operation_type", "target")
)

// Operations exports the recovery runner's operations by function and state, its retries
// and each breaker's state.
func Operations(src OperationSource) prometheus.Collector {
	return &collector{
		descs: []*prometheus.Desc{descOps, descRetries, descOpsFinished, descBreakerState, descBreakerTrips},
		collect: func(ch chan<- prometheus.Metric) {
			ops, err := src.List(recovery.Filter{})
			if err != nil {
				ch <- prometheus.NewInvalidMetric(descOps, err)
			}
			type key struct{ fn, state string }
			counts := map[key]int{}
			for _, op := range ops {
				counts[key{op.FunctionName, string(op.State)}]++
			}
			for k, n := range counts {
				ch <- gauge(descOps, float64(n), k.fn, k.state)
			}
			t := src.Totals()
			ch <- counter(descRetries, float64(t.RetryCount))
			for state, n := range map[recovery.State]int64{
				recovery.StateSuccess: t.Succeeded, recovery.StateFailed: t.Failed,
				recovery.StateExhausted: t.Exhausted, recovery.StateCancelled: t.Cancelled,
			} {
				ch <- counter(descOpsFinished, float64(n), string(state))
			}
			for _, b := range src.Breakers() {
				for _, s := range []breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open} {
					ch <- gauge(descBreakerState, boolValue(b.State == s), b.OperationType, b.Target, string(s))
				}
				ch <- counter(descBreakerTrips, float64(b.Trips), b.OperationType, b.Target)
			}
		},
	}
}

// ProjectLister is what *project.Manager offers.
type ProjectLister interface{ List() []project.Project }

var descProjects = desc("projects", "Projects by lifecycle state.", "state")

// projectStates are reported even when no project is in them, so a dashboard's series exist.
var projectStates = []project.State{
	project.StateDownloadComfyUI, project.StateInstallComfyUI, project.StateInstallCustomNodes,
	project.StateDownloadFiles, project.StateReady, project.StateStarting, project.StateRunning,
	project.StateStopping, project.StateFailed,
}

// Projects exports the number of projects in each state.
func Projects(src ProjectLister) prometheus.Collector {
	return &collector{
		descs: []*prometheus.Desc{descProjects},
		collect: func(ch chan<- prometheus.Metric) {
			counts := map[project.State]int{}
			for _, s := range projectStates {
				counts[s] = 0
			}
			for _, p := range src.List() {
				counts[p.State]++
			}
			for s, n := range counts {
				ch <- gauge(descProjects, float64(n), string(s))
			}
		},
	}
}

// DownloadSource is what *models.DownloadOps offers about the downloads.
type DownloadSource interface {
	List() ([]models.DownloadView, error)
}

var (
	descDownloadBytes  = desc("download_bytes", "Bytes fetched by the download operations the agent keeps, by state.", "state")
	descDownloadActive = desc("downloads_active", "Downloads pending, in progress or waiting to retry.")
	descThroughput     = desc("download_throughput_bytes_per_second", "Current combined speed of the downloads in progress.")
)

// Downloads exports download bytes, active downloads and current throughput.
func Downloads(src DownloadSource) prometheus.Collector {
	return &collector{
		descs: []*prometheus.Desc{descDownloadBytes, descDownloadActive, descThroughput},
		collect: func(ch chan<- prometheus.Metric) {
			views, err := src.List()
			if err != nil {
				ch <- prometheus.NewInvalidMetric(descDownloadBytes, err)
				return
			}
			bytes := map[string]int64{}
			active, speed := 0, 0.0
			for _, v := range views {
				bytes[v.State] += v.BytesDownloaded
				if recovery.State(v.State).Active() && !v.Paused {
					active++
				}
				if v.State == string(recovery.StateInProgress) {
					speed += v.SpeedBps
				}
			}
			for s, n := range bytes {
				ch <- gauge(descDownloadBytes, float64(n), s)
			}
			ch <- gauge(descDownloadActive, float64(active))
			ch <- gauge(descThroughput, speed)
		},
	}
}

// StoreUsage is what *models.Storage offers about the shared model store.
type StoreUsage interface{ Usage() (models.Usage, error) }

var (
	descStoreBytes   = desc("model_store_bytes", "Bytes of model files in the shared store, by ComfyUI folder (hard links counted in each folder).", "folder")
	descStoreFiles   = desc("model_store_files", "Model files in the shared store, by ComfyUI folder.", "folder")
	descReclaimable  = desc("model_store_duplicate_reclaimable_bytes", "Bytes 'launcher model dedupe' would free: identical files stored more than once.")
	descDiskFree     = desc("model_store_disk_free_bytes", "Free bytes on the filesystem that holds the model store.")
	descDiskTotal    = desc("model_store_disk_total_bytes", "Size of the filesystem that holds the model store.")
	descPartialBytes = desc("model_store_partial_bytes", "Bytes held by unfinished downloads.")
)

// Store exports the model store's size by folder, what dedupe could reclaim and the disk.
func Store(src StoreUsage) prometheus.Collector {
	return &collector{
		descs: []*prometheus.Desc{descStoreBytes, descStoreFiles, descReclaimable, descDiskFree, descDiskTotal, descPartialBytes},
		collect: func(ch chan<- prometheus.Metric) {
			u, err := src.Usage()
			if err != nil {
				ch <- prometheus.NewInvalidMetric(descStoreBytes, err)
				return
			}
			for folder, s := range u.ByType {
				ch <- gauge(descStoreBytes, float64(s.Size), folder)
				ch <- gauge(descStoreFiles, float64(s.Count), folder)
			}
			ch <- gauge(descReclaimable, float64(u.Reclaimable.Bytes))
			ch <- gauge(descPartialBytes, float64(u.Partial.Size))
			if u.Disk.Total > 0 {
				ch <- gauge(descDiskFree, float64(u.Disk.Free))
				ch <- gauge(descDiskTotal, float64(u.Disk.Total))
			}
		},
	}
}

// GPUSnapshot is what *gpu.Manager offers.
type GPUSnapshot interface {
	Snapshot(ctx context.Context) gpu.GPUsResponse
}

var (
	descGPUTotal    = desc("gpu_memory_total_bytes", "GPU memory as the driver reports it.", "gpu", "uuid", "name")
	descGPUUsed     = desc("gpu_memory_used_bytes", "GPU memory in use by any process, as the driver reports it.", "gpu", "uuid")
	descGPUReserved = desc("gpu_memory_reserved_bytes", "GPU memory the agent counts for the projects it placed on the GPU.", "gpu", "uuid")
	descGPUProjects = desc("gpu_projects", "Projects placed on the GPU.", "gpu", "uuid")
)

const mib = 1 << 20

// GPUs exports per-GPU memory: total, used and reserved by the agent's projects.
func GPUs(src GPUSnapshot) prometheus.Collector {
	return &collector{
		descs: []*prometheus.Desc{descGPUTotal, descGPUUsed, descGPUReserved, descGPUProjects},
		collect: func(ch chan<- prometheus.Metric) {
			ctx, cancel := context.WithTimeout(context.Background(), gpuQueryTimeout)
			defer cancel()
			for _, g := range src.Snapshot(ctx).GPUs {
				idx := itoa(g.Index)
				if g.MemoryTotalMB != nil {
					ch <- gauge(descGPUTotal, float64(*g.MemoryTotalMB*mib), idx, g.UUID, g.Name)
				}
				if g.MemoryUsedMB != nil {
					ch <- gauge(descGPUUsed, float64(*g.MemoryUsedMB*mib), idx, g.UUID)
				}
				ch <- gauge(descGPUReserved, float64(g.ReservedMB*mib), idx, g.UUID)
				ch <- gauge(descGPUProjects, float64(len(g.Projects)), idx, g.UUID)
			}
		},
	}
}

package cgroup

// How runtime-spec's linux.resources reach the kernel. On a legacy or
// hybrid host every limit goes through the v1 controllers; on a unified
// host through v2, converted where the two differ, as runc and crun do.
//
//	spec field                    v1 file                                 v2 file (conversion)
//	memory.limit                  memory.limit_in_bytes                   memory.max (-1 → max)
//	memory.reservation            memory.soft_limit_in_bytes              memory.low
//	memory.swap (memory+swap)     memory.memsw.limit_in_bytes             memory.swap.max = swap - limit
//	memory.kernelTCP              memory.kmem.tcp.limit_in_bytes          (refused: no v2 equivalent)
//	memory.kernel                 ignored: deprecated by the spec, and Linux 5.16+ no longer limits it
//	memory.swappiness             memory.swappiness                       (refused)
//	memory.disableOOMKiller       memory.oom_control = 1                  (refused)
//	memory.useHierarchy           memory.use_hierarchy                    (always hierarchical)
//	memory.checkBeforeUpdate      usage_in_bytes checked against limit    memory.current checked
//	cpu.shares                    cpu.shares                              cpu.weight = 1 + (shares-2)*9999/262142
//	cpu.quota, cpu.period         cpu.cfs_quota_us, cpu.cfs_period_us     cpu.max "quota period" (quota -1 → max)
//	cpu.burst                     cpu.cfs_burst_us                        cpu.max.burst
//	cpu.realtimeRuntime/Period    cpu.rt_runtime_us, cpu.rt_period_us     (refused: no v2 RT group scheduling)
//	cpu.idle                      cpu.idle                                cpu.idle
//	cpu.cpus, cpu.mems            cpuset.cpus, cpuset.mems                cpuset.cpus, cpuset.mems
//	pids.limit (<= 0: none)       pids.max                                pids.max
//	blockIO.weight                blkio.weight or blkio.bfq.weight        io.bfq.weight, or io.weight = 1 + (w-10)*9999/990
//	blockIO.leafWeight            blkio.leaf_weight                       (refused)
//	blockIO.weightDevice          blkio.weight_device / leaf_weight_device io.bfq.weight "maj:min w"
//	blockIO.throttle*             blkio.throttle.{read,write}_{bps,iops}_device  io.max "maj:min rbps= wbps= riops= wiops="
//	hugepageLimits                hugetlb.<size>.limit_in_bytes           hugetlb.<size>.max
//	network.classID               net_cls.classid                         (refused: use an eBPF program)
//	network.priorities            net_prio.ifpriomap                      (refused)
//	rdma                          rdma.max                                rdma.max
//	devices                       devices.allow / devices.deny            eBPF device program (package devices)
//	unified                       (refused unless the v2 file exists)     written as given

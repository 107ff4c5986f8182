// parseCgroupPath on cgroup paths RECORDED from a real container runtime, not
// written from its naming rules: scripts/record-cgroup-paths.mjs started Debian's
// containerd (CRI plugin, runc), ran pods over CRI with the kubelet's cgroup_parent
// and read /proc/<pid>/cgroup of each sandbox and container on the host. Every
// recorded path must give back the pod UID, container id, runtime and QoS the
// runtime was actually given or returned. What could not be recorded here (CRI-O)
// is listed in test/golden/cgroups/README.md.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCgroupPath } from '../agent/k8s/cgroup-path.js';
import type { ContainerRuntime, QosClass } from '../agent/k8s/cgroup-path.js';

interface RecordedProcess {
  id: string;
  pid: number;
  /** The cgroup v2 path (the `0::` line): what the agent resolves a cgroup id to. */
  cgroup: string;
  /** Every line of /proc/<pid>/cgroup as read (v1 hierarchies too on a hybrid host). */
  procCgroup: string[];
  /**
   * systemd driver only: the v2 path read inside the namespaces where the recording
   * booted systemd (it is not PID 1 here), i.e. as a node with systemd as PID 1 shows it.
   */
  cgroupInNamespace?: string;
}

interface Recording {
  provenance: { runtime: string; runtimeVersion: string; cgroupDriver: string; kernel: string };
  pods: {
    qos: QosClass;
    podUid: string;
    cgroupParent: string;
    sandbox: RecordedProcess;
    containers: (RecordedProcess & { name: string })[];
  }[];
}

const dir = new URL('./golden/cgroups/', import.meta.url);
const files = readdirSync(dir).filter((f) => /^recorded-.+\.json$/.test(f));
const recordings = files.map((file) => ({
  file,
  recording: JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Recording,
}));

// The runtime name CRI's Version call reports → what the parser calls it.
const RUNTIME: Record<string, ContainerRuntime> = { containerd: 'containerd', 'cri-o': 'cri-o' };

const cases = recordings.flatMap(({ file, recording }) =>
  recording.pods.flatMap((pod) =>
    [
      { role: 'sandbox', process: pod.sandbox },
      ...pod.containers.map((c) => ({ role: `container ${c.name}`, process: c })),
    ].map(({ role, process }) => ({
      label: `${file}: ${pod.qos} pod, ${role}`,
      recording,
      pod,
      process,
    })),
  ),
);

describe('recorded cgroup paths → pod and container', () => {
  it('has recordings, each from a named runtime, driver and kernel', () => {
    expect(files.length).toBeGreaterThan(0);
    for (const { recording } of recordings) {
      expect(Object.keys(RUNTIME)).toContain(recording.provenance.runtime);
      expect(recording.provenance.runtimeVersion).not.toBe('');
      expect(['cgroupfs', 'systemd']).toContain(recording.provenance.cgroupDriver);
      expect(recording.provenance.kernel).not.toBe('');
      expect(recording.pods.length).toBeGreaterThan(0);
    }
  });

  it.each(cases.map((c) => [c.label, c] as const))('%s', (_, { recording, pod, process }) => {
    const expected = {
      runtime: RUNTIME[recording.provenance.runtime],
      podUid: pod.podUid,
      containerId: process.id,
      qos: pod.qos,
    };
    expect(parseCgroupPath(process.cgroup)).toEqual(expected);
    // The v2 line is one of the lines read, not a copy that drifted from them.
    expect(process.procCgroup).toContain(`0::${process.cgroup}`);
    if (recording.provenance.cgroupDriver === 'systemd') {
      expect(process.cgroupInNamespace).toBeDefined();
      expect(parseCgroupPath(process.cgroupInNamespace!)).toEqual(expected);
      expect(process.cgroup.endsWith(process.cgroupInNamespace!)).toBe(true);
    }
    // On a hybrid host the v1 hierarchies name the same pod; with the systemd
    // driver runc left the sandbox in the pod slice in the devices hierarchy.
    for (const line of process.procCgroup) {
      const got = parseCgroupPath(line.split(':').slice(2).join(':'));
      expect(got, line).toEqual(
        got.containerId ? expected : { runtime: 'unknown', podUid: pod.podUid, qos: pod.qos },
      );
    }
  });

  it('puts each container below the cgroup_parent the kubelet gave its pod', () => {
    for (const { recording, pod, process } of cases) {
      // cgroupfs takes the parent as a path; systemd the pod's slice, which it nests.
      if (recording.provenance.cgroupDriver === 'cgroupfs') {
        expect(process.cgroup.startsWith(`${pod.cgroupParent}/`)).toBe(true);
      } else {
        expect(process.cgroupInNamespace).toMatch(
          new RegExp(`^/kubepods\\.slice/(.+/)?${pod.cgroupParent.replaceAll('.', '\\.')}/`),
        );
      }
    }
  });

  it('has the systemd and the cgroupfs driver', () => {
    const drivers = recordings.map((r) => r.recording.provenance.cgroupDriver);
    expect(drivers).toContain('systemd');
    expect(drivers).toContain('cgroupfs');
  });
});

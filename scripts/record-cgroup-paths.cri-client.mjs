// A minimal CRI (runtime.v1) client over a unix socket, for
// scripts/record-cgroup-paths.mjs: the calls the kubelet makes to start and stop
// a pod, nothing more. Debian 12 has no cri-tools (crictl), hence this.
import { credentials, Client } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROTO = join(dirname(fileURLToPath(import.meta.url)), 'record-cgroup-paths.cri.proto');
const SERVICE = 'runtime.v1.RuntimeService';

// rpc name → [request type, response type]
const METHODS = {
  Version: ['VersionRequest', 'VersionResponse'],
  RunPodSandbox: ['RunPodSandboxRequest', 'RunPodSandboxResponse'],
  StopPodSandbox: ['StopPodSandboxRequest', 'Empty'],
  RemovePodSandbox: ['RemovePodSandboxRequest', 'Empty'],
  PodSandboxStatus: ['PodSandboxStatusRequest', 'PodSandboxStatusResponse'],
  CreateContainer: ['CreateContainerRequest', 'CreateContainerResponse'],
  StartContainer: ['StartContainerRequest', 'Empty'],
  StopContainer: ['StopContainerRequest', 'Empty'],
  RemoveContainer: ['RemoveContainerRequest', 'Empty'],
  ContainerStatus: ['ContainerStatusRequest', 'ContainerStatusResponse'],
};

export class CriCallError extends Error {
  name = 'CriCallError';
}

/** A connected client: `await cri.call('Version', {})` → the decoded reply (camelCase fields). */
export async function criClient(socketPath, timeoutMs = 60_000) {
  const root = await protobuf.load(PROTO);
  const client = new Client(`unix://${socketPath}`, credentials.createInsecure());
  const call = (method, request) => {
    const [requestName, responseName] = METHODS[method];
    const requestType = root.lookupType(`runtime.v1.${requestName}`);
    const responseType = root.lookupType(`runtime.v1.${responseName}`);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        `/${SERVICE}/${method}`,
        (value) => Buffer.from(requestType.encode(requestType.fromObject(value)).finish()),
        (bytes) => responseType.toObject(responseType.decode(bytes), { longs: String }),
        request,
        { deadline: Date.now() + timeoutMs },
        (err, reply) =>
          err
            ? reject(new CriCallError(`CRI ${method}: ${err.message}`, { cause: err }))
            : resolve(reply),
      );
    });
  };
  return { call, close: () => client.close() };
}

// Encode and decode the messages of proto/rstscope/v1 with protobufjs reflection
// (it compiles an encoder per type at first use), and describe gRPC services for
// @grpc/grpc-js from the same descriptor.
import protobuf from 'protobufjs';
import { descriptor } from './generated/schema.js';

const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);

/** A message type of the descriptor, for code that reads its bytes directly. */
export function messageType(typeName: string): protobuf.Type {
  return root.lookupType(typeName);
}

// How decoded messages look: what the generated interfaces promise.
const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

export class MessageDecodeError extends Error {
  override name = 'MessageDecodeError';
}

export interface Codec<T> {
  readonly typeName: string;
  encode(message: T): Uint8Array;
  /** Throws MessageDecodeError when the bytes are not a T. */
  decode(bytes: Uint8Array): T;
}

/** Whether a message (or one nested in it) has an enum field, given by name in our objects. */
function hasEnums(type: protobuf.Type, seen = new Set<protobuf.Type>()): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  return type.fieldsArray.some((field) => {
    field.resolve();
    if (field.resolvedType instanceof protobuf.Enum) return true;
    return field.resolvedType instanceof protobuf.Type && hasEnums(field.resolvedType, seen);
  });
}

export function codecFor<T>(typeName: string): Codec<T> {
  const type = root.lookupType(typeName);
  // encode() writes an enum given by name as 0; fromObject() maps names to numbers.
  // It costs a copy, so only types with enums pay it (not the hot ResetEvent path).
  const viaFromObject = hasEnums(type);
  return {
    typeName,
    encode(message) {
      const value = viaFromObject ? type.fromObject(message as object) : (message as object);
      return type.encode(value).finish();
    },
    decode(bytes) {
      let decoded: protobuf.Message;
      try {
        decoded = type.decode(bytes);
      } catch (error) {
        throw new MessageDecodeError(`not a ${typeName}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      return type.toObject(decoded, TO_OBJECT) as T;
    },
  };
}

/** The shape @grpc/grpc-js wants for a service, built from the descriptor. */
export interface GrpcMethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: unknown) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseSerialize: (value: unknown) => Buffer;
  responseDeserialize: (bytes: Buffer) => unknown;
  originalName: string;
}

export function grpcServiceDefinition(serviceName: string): Record<string, GrpcMethodDefinition> {
  const service = root.lookupService(serviceName);
  const definition: Record<string, GrpcMethodDefinition> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const request = codecFor<unknown>(method.resolvedRequestType!.fullName.slice(1));
    const response = codecFor<unknown>(method.resolvedResponseType!.fullName.slice(1));
    definition[method.name] = {
      path: `/${serviceName}/${method.name}`,
      requestStream: method.requestStream ?? false,
      responseStream: method.responseStream ?? false,
      requestSerialize: (value) => Buffer.from(request.encode(value)),
      requestDeserialize: (bytes) => request.decode(bytes),
      responseSerialize: (value) => Buffer.from(response.encode(value)),
      responseDeserialize: (bytes) => response.decode(bytes),
      originalName: method.name,
    };
  }
  return definition;
}

/**
 * The public `WebSocketServer`: the node layer's ws-compatible server plus topics.
 *
 * Kept as a subclass so the node layer never imports the pub/sub layer: the base server only
 * passes an opaque {@link TopicRegistry} to the sockets it accepts.
 */
import type * as http from "node:http";
import { WebSocketServer as BaseWebSocketServer, type ServerOptions } from "../node/server.js";
import {
  type Data,
  DEFAULT_MAX_BACKPRESSURE,
  publishPayload,
  type WebSocket,
} from "../node/websocket.js";
import {
  type BackpressurePolicy,
  type PublishOptions,
  type PublishResult,
  TopicHub,
} from "./hub.js";

/**
 * A map from topic names to the data type published on each, for
 * {@link WebSocketServer.typedTopics}. Written as a mapped constraint so interfaces qualify too.
 */
export type TopicMap<Topics = Record<string, Data>> = { [K in keyof Topics]: Data };

/** A typed view of the server's topics: `publish` only accepts the declared topics and data. */
export interface TopicPublisher<Topics extends TopicMap<Topics>> {
  /** Sends `data` to every subscriber of `topic`. */
  publish<K extends keyof Topics & string>(
    topic: K,
    data: Topics[K],
    options?: PublishOptions,
  ): PublishResult;
  /** Number of subscribers of `topic`. */
  subscriberCount(topic: keyof Topics & string): number;
}

/**
 * A WebSocket server: ws 8's `WebSocketServer`, plus `publish`, `subscriberCount`, `broadcast`
 * (see the README's "Topics"). Sockets it accepts have `subscribe`, `unsubscribe`, `publish`.
 */
export class WebSocketServer<
  T extends typeof WebSocket = typeof WebSocket,
  U extends typeof http.IncomingMessage = typeof http.IncomingMessage,
> extends BaseWebSocketServer<T, U> {
  private readonly _hub: TopicHub<WebSocket>;

  /**
   * @param options - ws's options plus heartbeat, backpressure and timeout options
   * @param callback - called when listening (port mode)
   */
  constructor(options: ServerOptions<T, U>, callback?: () => void) {
    super(options, callback);
    this._hub = new TopicHub<WebSocket>({
      maxBackpressure: options.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE,
      backpressurePolicy: options.backpressurePolicy ?? "drop",
    });
    this._topicRegistry = this._hub;
  }

  /**
   * Sends `data` to every subscriber of `topic`. The frame is encoded once and the same buffer
   * queued to each subscriber; slow subscribers are handled per `backpressurePolicy`.
   */
  publish(topic: string, data: Data, options: PublishOptions = {}): PublishResult {
    const { payload, binary } = publishPayload(data, options.binary);
    return this._hub.publish(topic, payload, binary, options.compress !== false, null);
  }

  /** Number of sockets subscribed to `topic`. */
  subscriberCount(topic: string): number {
    return this._hub.subscriberCount(topic);
  }

  /**
   * Sends `data` to every connected client, encoded once (needs `clientTracking`, the default).
   */
  broadcast(data: Data, options: PublishOptions = {}): PublishResult {
    const { payload, binary } = publishPayload(data, options.binary);
    return this._hub.deliver(
      this.clients as Set<WebSocket>,
      payload,
      binary,
      options.compress !== false,
      null,
    );
  }

  /**
   * This server, typed for a topic map: `wss.typedTopics<{ chat: string }>().publish("chat", "hi")`.
   * Purely a compile-time view; it returns the server itself.
   */
  typedTopics<Topics extends TopicMap<Topics>>(): TopicPublisher<Topics> {
    return this as TopicPublisher<Topics>;
  }
}

export type { BackpressurePolicy, PublishOptions, PublishResult };

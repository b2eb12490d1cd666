// Types for demo/rooms.mjs, so the TypeScript tests can import it checked.

/** Rooms that always exist. */
export declare const DEFAULT_ROOMS: readonly string[];

/** What the rooms keep per connection. */
export interface Member {
  id: string;
  name: string;
  socket: {
    readyState: number;
    send(data: string): void;
    subscribe?(topic: string): boolean;
    unsubscribe?(topic: string): boolean;
    publish?(topic: string, data: string): { sent: number };
  };
}

/** Room membership, presence and recent history; delivery over socketeer topics when a publisher is given. */
export declare class Rooms {
  constructor(options?: {
    defaultRooms?: readonly string[];
    historyLimit?: number;
    maxRooms?: number;
    publisher?: { publish(topic: string, data: string): { sent: number } };
  });
  join(member: Member, name: string): { joined: boolean; left?: string };
  leave(member: Member): string | undefined;
  roomOf(member: Member): string | undefined;
  members(name: string): { id: string; name: string }[];
  list(): { name: string; count: number }[];
  broadcastToRoom(name: string, message: object, options?: { except?: Member }): number;
  remember(name: string, entry: object): void;
  history(name: string): object[];
}

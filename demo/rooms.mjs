// Room membership, presence and recent history for the chat demo.
//
// Everything the server knows about "who is in which room" lives behind this small interface:
// join(), leave(), members(), broadcastToRoom(). The server never walks sockets itself.
//
// Delivery uses socketeer's topic pub/sub when a `publisher` (the WebSocketServer) is given:
// join/leave subscribe/unsubscribe the socket to `room:<name>`, and broadcastToRoom() is one
// `publish()` that frames the message once and fans it out inside the library. The member
// lists (presence) and history stay here: pub/sub moves bytes, it does not know names.
// Without a publisher (the unit tests' fake sockets) it falls back to a plain loop.

/** Rooms that always exist, shown first, never removed when empty. */
export const DEFAULT_ROOMS = Object.freeze(["general", "random", "help"]);

/** WebSocket readyState OPEN (same value in ws, socketeer and browsers). */
const OPEN = 1;

/**
 * @typedef {object} Member
 * @property {string} id      Stable per connection, so two people may share a name.
 * @property {string} name    Display name, already validated by the server.
 * @property {{ readyState: number, send(data: string): void }} socket
 */

export class Rooms {
  /** @type {Map<string, { members: Set<Member>, history: object[] }>} */
  #rooms = new Map();
  /** @type {Map<Member, string>} */
  #roomOf = new Map();
  #historyLimit;
  #maxRooms;
  #defaults;
  #publisher;

  /**
   * @param {{ defaultRooms?: readonly string[], historyLimit?: number, maxRooms?: number }} [options]
   *   historyLimit: messages kept per room for people who join later (default 50);
   *   maxRooms: cap on rooms that exist at once, so nobody can create them without bound;
   *   publisher: the WebSocketServer whose topics carry room messages.
   */
  constructor({ defaultRooms = DEFAULT_ROOMS, historyLimit = 50, maxRooms = 100, publisher } = {}) {
    this.#publisher = publisher;
    this.#historyLimit = historyLimit;
    this.#maxRooms = maxRooms;
    this.#defaults = new Set(defaultRooms);
    for (const name of defaultRooms) this.#rooms.set(name, { members: new Set(), history: [] });
  }

  /**
   * Puts `member` in room `name` (creating it if needed), taking it out of its previous room.
   * Returns `{ joined: false }` when the room would have to be created but the cap is reached.
   * @param {Member} member
   * @param {string} name
   * @returns {{ joined: boolean, left?: string }}
   */
  join(member, name) {
    const previous = this.#roomOf.get(member);
    if (previous === name) return { joined: true };
    if (!this.#rooms.has(name) && this.#rooms.size >= this.#maxRooms) return { joined: false };
    const left = this.leave(member);
    let room = this.#rooms.get(name);
    if (room === undefined) {
      room = { members: new Set(), history: [] };
      this.#rooms.set(name, room);
    }
    room.members.add(member);
    this.#roomOf.set(member, name);
    if (this.#publisher) member.socket.subscribe(topicOf(name));
    return left === undefined ? { joined: true } : { joined: true, left };
  }

  /**
   * Takes `member` out of its room; rooms people created disappear when the last one leaves.
   * @param {Member} member
   * @returns {string | undefined} the room it left, if it was in one
   */
  leave(member) {
    const name = this.#roomOf.get(member);
    if (name === undefined) return undefined;
    this.#roomOf.delete(member);
    if (this.#publisher) member.socket.unsubscribe(topicOf(name));
    const room = this.#rooms.get(name);
    if (room !== undefined) {
      room.members.delete(member);
      if (room.members.size === 0 && !this.#defaults.has(name)) this.#rooms.delete(name);
    }
    return name;
  }

  /**
   * @param {Member} member
   * @returns {string | undefined}
   */
  roomOf(member) {
    return this.#roomOf.get(member);
  }

  /**
   * Who is in a room, as plain objects safe to send, sorted by name.
   * @param {string} name
   * @returns {{ id: string, name: string }[]}
   */
  members(name) {
    const room = this.#rooms.get(name);
    if (room === undefined) return [];
    return [...room.members]
      .map((m) => ({ id: m.id, name: m.name }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  /**
   * Every room with its head count: default rooms first (in their order), then the rest by name.
   * @returns {{ name: string, count: number }[]}
   */
  list() {
    const rooms = [...this.#rooms].map(([name, room]) => ({ name, count: room.members.size }));
    const order = [...this.#defaults];
    return rooms.sort((a, b) => {
      const ia = order.indexOf(a.name);
      const ib = order.indexOf(b.name);
      if (ia !== -1 || ib !== -1)
        return (ia === -1 ? order.length : ia) - (ib === -1 ? order.length : ib);
      return a.name.localeCompare(b.name);
    });
  }

  /**
   * Sends `message` to every member of room `name` whose socket is open.
   * The JSON is built once for the whole room, not once per member.
   * @param {string} name
   * @param {object} message
   * @param {{ except?: Member }} [options]
   * @returns {number} how many sockets it was sent to
   */
  broadcastToRoom(name, message, { except } = {}) {
    const room = this.#rooms.get(name);
    if (room === undefined) return 0;
    const payload = JSON.stringify(message);
    if (this.#publisher) {
      // socket.publish() reaches every subscriber but the sender itself.
      const result = except
        ? except.socket.publish(topicOf(name), payload)
        : this.#publisher.publish(topicOf(name), payload);
      return result.sent;
    }
    let sent = 0;
    for (const member of room.members) {
      if (member === except || member.socket.readyState !== OPEN) continue;
      member.socket.send(payload);
      sent++;
    }
    return sent;
  }

  /**
   * Remembers a chat message so people who join later see the recent conversation.
   * @param {string} name
   * @param {object} entry
   */
  remember(name, entry) {
    const room = this.#rooms.get(name);
    if (room === undefined) return;
    room.history.push(entry);
    if (room.history.length > this.#historyLimit) room.history.shift();
  }

  /**
   * @param {string} name
   * @returns {object[]} oldest first
   */
  history(name) {
    return [...(this.#rooms.get(name)?.history ?? [])];
  }
}

/** The pub/sub topic that carries a room's messages. */
function topicOf(room) {
  return `room:${room}`;
}

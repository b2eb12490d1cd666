// socketeer chat: the browser side. Plain JavaScript, no framework, no build step.
//
// One WebSocket to the same host that served the page. When it drops, the page says so and
// reconnects with exponential backoff (plus jitter, so a restarted server is not hit by every
// tab at the same instant), then rejoins the room it was in.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("status"),
    statusText: $("status-text"),
    me: $("me"),
    meName: $("me-name"),
    meAvatar: $("me-avatar"),
    rooms: $("rooms"),
    newRoom: $("new-room"),
    newRoomName: $("new-room-name"),
    members: $("members"),
    memberCount: $("member-count"),
    roomTitle: $("room-title"),
    messages: $("messages"),
    composer: $("composer"),
    text: $("text"),
    send: $("send"),
    welcome: $("welcome"),
    nameForm: $("name-form"),
    name: $("name"),
    nameError: $("name-error"),
  };

  const STORAGE_NAME = "socketeer-chat:name";
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 10_000;
  const ROOM_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

  const state = {
    socket: null,
    /** "connecting" | "open" | "reconnecting" */
    connection: "connecting",
    attempt: 0,
    retryTimer: 0,
    countdownTimer: 0,
    myId: "",
    name: localStorage.getItem(STORAGE_NAME) || "",
    room: roomFromHash() || "general",
    joined: false,
    rooms: [],
  };

  function roomFromHash() {
    const room = decodeURIComponent(location.hash.slice(1)).toLowerCase();
    return ROOM_PATTERN.test(room) ? room : "";
  }

  // ---- connection -------------------------------------------------------------------------

  function socketUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
  }

  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    setConnection(state.attempt === 0 ? "connecting" : "reconnecting", "Connecting…");
    const socket = new WebSocket(socketUrl());
    state.socket = socket;

    socket.addEventListener("open", () => {
      state.attempt = 0;
      setConnection("open", "Connected");
      if (state.name) join(state.room);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      handle(message);
    });
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      state.joined = false;
      updateComposer();
      scheduleReconnect(event.code);
    });
  }

  function scheduleReconnect(code) {
    state.attempt += 1;
    // 0.5 s, 1 s, 2 s, 4 s … capped at 10 s; each delay randomised to 50–100 % of that.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (state.attempt - 1));
    const delay = Math.round(ceiling * (0.5 + Math.random() / 2));
    const due = Date.now() + delay;
    const why = code === 1001 ? "Server restarting" : "Connection lost";
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      setConnection("reconnecting", `${why} · retrying in ${seconds} s (attempt ${state.attempt})`);
    };
    tick();
    state.countdownTimer = setInterval(tick, 250);
    state.retryTimer = setTimeout(connect, delay);
  }

  // Coming back online or to the tab is a good moment to skip the rest of the backoff.
  function retryNow() {
    if (state.connection === "reconnecting" && state.socket === null) connect();
  }
  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") retryNow();
  });

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function setConnection(connection, text) {
    state.connection = connection;
    el.status.dataset.state = connection;
    el.statusText.textContent = text;
    updateComposer();
  }

  // ---- protocol ---------------------------------------------------------------------------

  function join(room) {
    state.room = room;
    send({ type: "join", room, name: state.name });
  }

  function handle(message) {
    switch (message.type) {
      case "welcome":
        state.myId = message.id;
        renderRooms(message.rooms);
        break;
      case "rooms":
        renderRooms(message.rooms);
        break;
      case "joined":
        state.joined = true;
        state.room = message.room;
        state.myId = message.you.id;
        if (location.hash !== `#${message.room}`)
          history.replaceState(null, "", `#${message.room}`);
        el.roomTitle.textContent = `#${message.room}`;
        el.messages.replaceChildren();
        for (const entry of message.history) addChat(entry);
        addNotice(`You joined #${message.room}`);
        renderMembers(message.members);
        renderRooms(state.rooms);
        updateComposer();
        el.text.focus();
        break;
      case "presence":
        if (message.room !== state.room) break;
        renderMembers(message.members);
        addNotice(`${message.user.name} ${message.event === "join" ? "joined" : "left"}`);
        break;
      case "message":
        if (message.room === state.room) addChat(message);
        break;
      case "error":
        if (message.error === "bad_name") {
          askName(message.message);
        } else {
          addNotice(message.message, "error");
        }
        break;
    }
  }

  // ---- rendering (textContent only: everything shown came from other people) -------------

  function renderRooms(rooms) {
    state.rooms = rooms;
    const items = rooms.map((room) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.room = room.name;
      if (room.name === state.room && state.joined) button.setAttribute("aria-current", "true");
      const name = document.createElement("span");
      name.textContent = `#${room.name}`;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(room.count);
      count.title = `${room.count} online`;
      button.append(name, count);
      li.append(button);
      return li;
    });
    el.rooms.replaceChildren(...items);
  }

  function renderMembers(members) {
    el.memberCount.textContent = String(members.length);
    const items = members.map((member) => {
      const li = document.createElement("li");
      li.dataset.id = member.id;
      li.append(avatar(member.name));
      const name = document.createElement("span");
      name.className = "member-name";
      name.textContent = member.name;
      li.append(name);
      if (member.id === state.myId) {
        const you = document.createElement("span");
        you.className = "you";
        you.textContent = "you";
        li.append(you);
      }
      return li;
    });
    el.members.replaceChildren(...items);
  }

  function avatar(name) {
    const span = document.createElement("span");
    span.className = "avatar";
    span.setAttribute("aria-hidden", "true");
    span.textContent = [...name][0]?.toUpperCase() ?? "?";
    span.style.setProperty("--hue", String(hue(name)));
    return span;
  }

  function hue(text) {
    let h = 0;
    for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function keepScrolled(add) {
    const list = el.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    add();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function addChat(entry) {
    keepScrolled(() => {
      const li = document.createElement("li");
      li.className = entry.from.id === state.myId ? "chat-line mine" : "chat-line";
      const head = document.createElement("div");
      head.className = "meta";
      const who = document.createElement("strong");
      who.textContent = entry.from.name;
      const when = document.createElement("time");
      const date = new Date(entry.ts);
      when.dateTime = date.toISOString();
      when.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      head.append(who, when);
      const body = document.createElement("p");
      body.className = "text";
      body.textContent = entry.text;
      const bubble = document.createElement("div");
      bubble.className = "bubble";
      bubble.append(head, body);
      li.append(avatar(entry.from.name), bubble);
      el.messages.append(li);
    });
  }

  function addNotice(text, kind = "notice") {
    keepScrolled(() => {
      const li = document.createElement("li");
      li.className = kind;
      li.textContent = text;
      el.messages.append(li);
    });
  }

  function updateComposer() {
    const ready = state.joined && state.connection === "open";
    el.text.disabled = !ready;
    el.send.disabled = !ready;
    el.text.placeholder = ready
      ? `Message #${state.room}`
      : state.name
        ? "Waiting for the connection…"
        : "Pick a name first";
  }

  function showMe() {
    el.me.hidden = !state.name;
    el.meName.textContent = state.name;
    el.meAvatar.replaceWith(avatar(state.name));
    el.meAvatar = el.me.querySelector(".avatar");
  }

  function askName(error = "") {
    el.name.value = state.name;
    el.nameError.textContent = error;
    if (!el.welcome.open) el.welcome.showModal();
    el.name.focus();
  }

  // ---- user actions -----------------------------------------------------------------------

  el.nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = el.name.value.trim();
    if (!name) {
      el.nameError.textContent = "Please enter a name.";
      return;
    }
    state.name = name;
    localStorage.setItem(STORAGE_NAME, name);
    el.welcome.close();
    showMe();
    join(state.room);
    updateComposer();
  });

  // Without a name there is nothing to do yet, so Escape must not close the welcome dialog.
  el.welcome.addEventListener("cancel", (event) => {
    if (!state.name) event.preventDefault();
  });

  el.me.addEventListener("click", () => askName());

  el.rooms.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-room]");
    if (button && state.name) join(button.dataset.room);
  });

  el.newRoom.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = el.newRoomName.value.trim().toLowerCase();
    if (!ROOM_PATTERN.test(room)) return;
    el.newRoomName.value = "";
    if (state.name) join(room);
    else {
      state.room = room;
      askName();
    }
  });

  el.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = el.text.value.trim();
    if (!text) return;
    if (send({ type: "say", text })) el.text.value = "";
  });

  window.addEventListener("hashchange", () => {
    const room = roomFromHash();
    if (room && room !== state.room && state.name) join(room);
  });

  // ---- start ------------------------------------------------------------------------------

  showMe();
  updateComposer();
  if (!state.name) askName();
  connect();
})();

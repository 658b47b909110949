/* guahao web simulator: talk to the bot as a WeChat and an SMS user, watch the outbox, move the clock, play staff.
 * Plain browser JavaScript, no build step, no external resources. Every text from the server is put in the page with
 * textContent (never as HTML). */
(function () {
  "use strict";

  // The only endpoints this page calls (SPEC §4 plus the lead's /simulator/info).
  var API = {
    info: "/simulator/info",
    send: "/simulator/send",
    outbox: "/simulator/outbox",
    clock: "/simulator/clock",
    appointments: "/api/staff/appointments",
    broadcasts: "/api/staff/broadcasts",
  };

  var CHANNELS = ["wechat", "sms"];
  var OUTBOX_POLL_MS = 2000;
  var INFO_POLL_MS = 30000;
  var BROADCAST_POLL_MS = 500;
  var BROADCAST_GIVE_UP_MS = 180000;
  var MAX_USERS = 20;
  var MAX_HISTORY = 300;
  var DEFAULT_OFFSET = "+08:00";
  var STORE_PREFIX = "guahao.simulator.";

  var KIND_LABELS = {
    otp: "验证码 otp",
    confirmation: "预约确认 confirmation",
    reminder: "就诊提醒 reminder",
    broadcast: "医院通知 broadcast",
    cancellation: "取消通知 cancellation",
    offer: "候补有号 offer",
    rescheduled: "改约成功 rescheduled",
    reply: "回复 reply",
  };
  var CHANNEL_LABELS = { wechat: "微信 WeChat", sms: "短信 SMS" };
  var STATUS_LABELS = {
    booked: "已预约 booked",
    cancelled: "已取消 cancelled",
    cancelled_late: "逾期取消 cancelled late",
    cancelled_by_hospital: "医院停诊 cancelled by hospital",
    attended: "已就诊 attended",
    no_show: "爽约 no-show",
    no_show_waived: "爽约已豁免 no-show waived",
  };
  var BROADCAST_STATUS = { posting: "提交中 posting", queued: "排队中 queued", running: "发送中 running", done: "完成 done", failed: "失败 failed" };
  var WEEKDAYS = ["周日", "周一", "周二", "周三", "周四", "周五", "周六"];

  // ------------------------------------------------------------------ small helpers

  function $(id) {
    return document.getElementById(id);
  }

  /** An element with attributes (string values; "text" sets textContent; "class" the class) and children. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = String(value);
        else if (key === "class") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function showError(id, message) {
    var node = $(id);
    if (!node) return;
    if (message) {
      node.textContent = message;
      node.hidden = false;
    } else {
      node.textContent = "";
      node.hidden = true;
    }
  }

  function store(key, value) {
    try {
      if (value === undefined) return JSON.parse(window.localStorage.getItem(STORE_PREFIX + key) || "null");
      window.localStorage.setItem(STORE_PREFIX + key, JSON.stringify(value));
    } catch (e) {
      /* storage off or full: the page works without it */
    }
    return null;
  }

  function sessionStore(key, value) {
    try {
      if (value === undefined) return JSON.parse(window.sessionStorage.getItem(STORE_PREFIX + key) || "null");
      window.sessionStorage.setItem(STORE_PREFIX + key, JSON.stringify(value));
    } catch (e) {
      /* as above */
    }
    return null;
  }

  function randomChars(alphabet, n) {
    var out = "";
    var values = new Uint32Array(n);
    window.crypto.getRandomValues(values);
    for (var i = 0; i < n; i++) out += alphabet[values[i] % alphabet.length];
    return out;
  }

  function newOpenid() {
    // shaped like a real openid: 28 characters starting with "o"
    return "oDemo" + randomChars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 23);
  }

  function newPhone() {
    return "1" + randomChars("3589", 1) + randomChars("0123456789", 9);
  }

  /** A mainland mobile in any accepted form (13812345678, +8613812345678, 8613812345678) → E.164, else null. */
  function normalizePhone(text) {
    var compact = String(text || "").replace(/[\s\-()]/g, "");
    var match = /^(?:\+?86)?(1\d{10})$/.exec(compact);
    return match ? "+86" + match[1] : null;
  }

  /** How a recipient is compared: phones in E.164, anything else as given. */
  function recipientKey(to) {
    var trimmed = String(to || "").trim();
    return normalizePhone(trimmed) || trimmed;
  }

  /** "2025-06-01T09:05:00+08:00" → parts of the deployment-local time written in the string (no time zone maths). */
  function isoParts(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(String(iso || ""));
    if (!m) return null;
    return { date: m[1] + "-" + m[2] + "-" + m[3], y: +m[1], mo: m[2], d: m[3], hh: m[4], mm: m[5] };
  }

  function isoOffset(iso) {
    var m = /([+-]\d{2}:?\d{2})$/.exec(String(iso || ""));
    if (!m) return DEFAULT_OFFSET;
    var raw = m[1].replace(":", "");
    return raw.slice(0, 3) + ":" + raw.slice(3);
  }

  function weekday(dateText) {
    var p = dateText.split("-");
    return WEEKDAYS[new Date(Date.UTC(+p[0], +p[1] - 1, +p[2])).getUTCDay()];
  }

  /** Milliseconds since the epoch of an ISO-8601 time with offset (any number of fraction digits), or NaN. */
  function isoMillis(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(
      String(iso || "")
    );
    if (!m) return NaN;
    var ms = m[7] ? Math.floor(Number("0." + m[7]) * 1000) : 0;
    var t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), ms);
    var zone = m[8] || "Z";
    if (zone !== "Z") {
      var sign = zone[0] === "-" ? -1 : 1;
      var digits = zone.slice(1).replace(":", "");
      t -= sign * (+digits.slice(0, 2) * 60 + +digits.slice(2)) * 60000;
    }
    return t;
  }

  function shortTime(iso) {
    var p = isoParts(iso);
    return p ? p.mo + "-" + p.d + " " + p.hh + ":" + p.mm : String(iso || "");
  }

  // ------------------------------------------------------------------ HTTP

  function ApiError(message, status) {
    this.message = message;
    this.status = status;
  }

  /** fetch JSON; resolves to the parsed body of a 2xx answer, rejects with an ApiError whose message says why. */
  function api(method, path, body, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (options.staff) {
      if (!state.token) return Promise.reject(new ApiError("请先输入工作人员令牌 · enter a staff token first", 0));
      headers.Authorization = "Bearer " + state.token;
    }
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? window.setTimeout(function () { controller.abort(); }, options.timeout || 30000) : null;
    return window
      .fetch(path, {
        method: method,
        headers: headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "same-origin",
        signal: controller ? controller.signal : undefined,
      })
      .then(
        function (response) {
          return response.text().then(function (text) {
            var data = null;
            try {
              data = text ? JSON.parse(text) : {};
            } catch (e) {
              data = null;
            }
            if (response.ok) {
              if (data === null) throw new ApiError("服务器返回的不是 JSON · not JSON from " + path, response.status);
              return data;
            }
            throw new ApiError(describeFailure(response, data, text), response.status);
          });
        },
        function (err) {
          if (err && err.name === "AbortError") throw new ApiError("请求超时 · request timed out: " + path, 0);
          throw new ApiError("无法连接服务器 · cannot reach the server (" + path + ")", 0);
        }
      )
      .finally(function () {
        if (timer) window.clearTimeout(timer);
      });
  }

  function describeFailure(response, data, text) {
    var detail = "";
    if (data && typeof data.error === "string") detail = data.error;
    else if (data && Array.isArray(data.errors)) {
      detail = data.errors
        .map(function (e) {
          return (e.line ? "line " + e.line + ": " : "") + (e.reason || JSON.stringify(e));
        })
        .join("; ");
    } else if (text && text.length < 300 && !/</.test(text)) detail = text.trim();
    var head = "HTTP " + response.status + (response.statusText ? " " + response.statusText : "");
    if (response.status === 401) head += " · 令牌无效 staff token refused";
    if (response.status === 404 && !detail) detail = "接口不存在或模拟器未开启 · not found (is the simulator on?)";
    return detail ? head + " — " + detail : head;
  }

  function errorText(err) {
    return err && err.message ? err.message : String(err);
  }

  // ------------------------------------------------------------------ state

  var state = {
    info: null,
    token: null,
    now: null,
    offset: DEFAULT_OFFSET,
    hospitals: [],
    chats: {},
    phoneChannel: {}, // E.164 phone → channel in which it was typed (where its code should go)
    watchAuto: true, // the watch-phone input follows phones typed in the WeChat chat until the user edits it
    staffDateTouched: false,
    broadcastDateTouched: false,
    outbox: { inflight: false, signature: "", keys: {}, seen: {}, seenCounter: 0, generation: 0, timer: null, first: true },
    staffSeq: 0,
    clockBusy: false,
    infoTimer: null,
  };

  CHANNELS.forEach(function (channel) {
    state.chats[channel] = {
      channel: channel,
      user: "",
      busy: false,
      chat: $(channel + "-chat"),
      log: $(channel + "-log"),
      form: $(channel + "-form"),
      input: $(channel + "-input"),
      send: $(channel + "-send"),
      userInput: $(channel + "-user"),
      newUser: $(channel + "-new"),
      datalist: $(channel + "-users"),
      error: channel + "-error",
    };
  });

  // ------------------------------------------------------------------ chat history (per user, this tab)

  var histories = sessionStore("histories") || {};

  function historyKey(channel, user) {
    return channel + "|" + user;
  }

  function historyOf(channel, user) {
    var key = historyKey(channel, user);
    if (!histories[key]) histories[key] = { items: [], chipsAt: -1 };
    return histories[key];
  }

  function saveHistories() {
    sessionStore("histories", histories);
  }

  // ------------------------------------------------------------------ users

  function knownUsers(channel) {
    var list = store("users." + channel);
    return Array.isArray(list) ? list.filter(function (u) { return typeof u === "string" && u; }) : [];
  }

  function rememberUser(channel, user) {
    var list = knownUsers(channel).filter(function (u) { return u !== user; });
    list.unshift(user);
    store("users." + channel, list.slice(0, MAX_USERS));
    store("current." + channel, user);
    renderUserList(channel);
  }

  function renderUserList(channel) {
    var datalist = state.chats[channel].datalist;
    datalist.textContent = "";
    knownUsers(channel).forEach(function (user) {
      datalist.appendChild(el("option", { value: user }));
    });
  }

  function applyUser(channel, raw) {
    var chat = state.chats[channel];
    var user = String(raw || "").trim();
    if (!user) {
      chat.userInput.value = chat.user;
      showError(chat.error, "请填写用户 · choose or type a user first");
      return;
    }
    chat.userInput.value = user;
    if (user === chat.user) return;
    chat.user = user;
    rememberUser(channel, user);
    if (channel === "sms" && !normalizePhone(user)) {
      showError(chat.error, "“" + user + "” 不是大陆手机号 · not a mainland mobile number (the bot may refuse it)");
    } else {
      showError(chat.error, "");
    }
    renderLog(channel);
    onWatchChanged();
  }

  // ------------------------------------------------------------------ chat rendering

  /** Numbered options of a reply ("1. 预约挂号" one per line), or [] when fewer than two. */
  function optionsOf(text) {
    var found = [];
    String(text || "")
      .split(/\r?\n/)
      .forEach(function (line) {
        var m = /^\s*(\d{1,2})\s*[.．、)）]\s*(\S.*)$/.exec(line);
        if (m) found.push({ number: m[1], label: m[2].trim() });
      });
    return found.length >= 2 ? found : [];
  }

  function messageNode(channel, item, withChips) {
    var kind = item.from === "user" ? "msg-user" : item.from === "bot" ? "msg-bot" : "msg-note";
    var classes = "msg " + kind + (item.error ? " msg-error" : "") + (item.welcome ? " msg-welcome" : "");
    var who = item.from === "user" ? "我 me" : item.from === "bot" ? "挂号助手 bot" : "提示 note";
    var node = el("div", { class: classes, "data-from": item.from }, [
      el("span", { class: "sr-only", text: who + ":" }),
      el("div", { class: "bubble", text: item.text }),
    ]);
    if (withChips) {
      var options = optionsOf(item.text);
      if (options.length) {
        var chips = el("div", { class: "chips", role: "group", "aria-label": "选项 options" });
        options.forEach(function (option) {
          var chip = el("button", { type: "button", class: "chip chip-option", "data-send": option.number }, [
            el("span", { class: "num", text: option.number }),
            option.label.length > 18 ? option.label.slice(0, 17) + "…" : option.label,
          ]);
          chip.title = option.number + ". " + option.label;
          chip.disabled = state.chats[channel].busy;
          chips.appendChild(chip);
        });
        node.appendChild(chips);
      }
    }
    return node;
  }

  function scrollToEnd(log) {
    log.scrollTop = log.scrollHeight;
  }

  function welcomeNode(channel) {
    var text =
      channel === "wechat"
        ? "发送“菜单”开始,或点下面的快捷按钮。\nSend 菜单 (menu) to start, or tap a quick button below."
        : "发送“预约”或“帮助”开始。\nSend 预约 (BOOK) or 帮助 (HELP) to start.";
    return messageNode(channel, { from: "note", text: text, welcome: true }, false);
  }

  function renderLog(channel) {
    var chat = state.chats[channel];
    chat.log.textContent = "";
    if (!chat.user) return;
    var history = historyOf(channel, chat.user);
    if (!history.items.length) chat.log.appendChild(welcomeNode(channel));
    history.items.forEach(function (item, index) {
      chat.log.appendChild(messageNode(channel, item, index === history.chipsAt));
    });
    scrollToEnd(chat.log);
  }

  /** Add messages to a user's history; shown at once if that user is on screen. chipsFor: index in `items` of the
   * reply whose options become chips (-1: none). Appends to the log (never re-renders it, so screen readers only
   * hear the new messages). */
  function addMessages(channel, user, items, chipsFor) {
    var chat = state.chats[channel];
    var history = historyOf(channel, user);
    var before = history.chipsAt;
    var base = history.items.length;
    items.forEach(function (item) { history.items.push(item); });
    if (chipsFor !== undefined && chipsFor >= 0) history.chipsAt = base + chipsFor;
    else if (items.some(function (item) { return item.from === "user"; })) history.chipsAt = -1;
    if (history.items.length > MAX_HISTORY) {
      var drop = history.items.length - MAX_HISTORY;
      history.items.splice(0, drop);
      history.chipsAt = Math.max(-1, history.chipsAt - drop);
      base -= drop;
    }
    saveHistories();
    if (chat.user !== user) return;
    if (history.chipsAt !== before) {
      chat.log.querySelectorAll(".chips").forEach(function (chips) { chips.remove(); });
    }
    var welcome = chat.log.querySelector(".msg-welcome");
    if (welcome) welcome.remove();
    var typing = chat.log.querySelector(".typing");
    items.forEach(function (item, index) {
      chat.log.insertBefore(messageNode(channel, item, base + index === history.chipsAt), typing);
    });
    scrollToEnd(chat.log);
  }

  function showTyping(channel, on) {
    var chat = state.chats[channel];
    var existing = chat.log.querySelector(".typing");
    if (on && !existing) {
      var node = el("div", { class: "msg msg-bot typing", "aria-hidden": "true", "data-testid": channel + "-typing" }, [
        el("div", { class: "bubble" }, [
          el("span", { class: "dot" }),
          el("span", { class: "dot" }),
          el("span", { class: "dot" }),
        ]),
      ]);
      chat.log.appendChild(node);
      scrollToEnd(chat.log);
    } else if (!on && existing) {
      existing.remove();
    }
  }

  function setBusy(channel, busy) {
    var chat = state.chats[channel];
    chat.busy = busy;
    chat.chat.setAttribute("data-busy", busy ? "true" : "false");
    chat.log.setAttribute("aria-busy", busy ? "true" : "false");
    chat.input.readOnly = busy; // keeps the focus (disabling would drop it)
    chat.send.disabled = busy;
    chat.userInput.readOnly = busy;
    chat.newUser.disabled = busy;
    chat.chat.querySelectorAll(".chip").forEach(function (chip) { chip.disabled = busy; });
    document.querySelectorAll('.use-code[data-target="' + channel + '"]').forEach(function (b) { b.disabled = busy; });
  }

  // ------------------------------------------------------------------ sending

  /** Phones typed in a chat: a code sent to one belongs in that chat (and the WeChat one is watched). */
  function notePhones(channel, text) {
    var matches = String(text).match(/(?:\+?86)?1\d{10}/g) || [];
    matches.forEach(function (candidate) {
      var phone = normalizePhone(candidate);
      if (!phone) return;
      state.phoneChannel[phone] = channel;
      if (channel === "wechat" && state.watchAuto) {
        var watch = $("watch-phone");
        if (recipientKey(watch.value) !== phone) {
          watch.value = candidate;
          onWatchChanged();
        }
      }
    });
  }

  function sendMessage(channel, rawText) {
    var chat = state.chats[channel];
    var text = String(rawText || "").trim();
    if (!text || chat.busy) return Promise.resolve(false);
    var typed = chat.userInput.value.trim();
    if (typed && typed !== chat.user) applyUser(channel, typed); // a user typed but not yet confirmed
    if (!chat.user) {
      showError(chat.error, "请先选择用户 · choose a user first");
      chat.userInput.focus();
      return Promise.resolve(false);
    }
    var user = chat.user;
    showError(chat.error, "");
    setBusy(channel, true);
    addMessages(channel, user, [{ from: "user", text: text }]);
    notePhones(channel, text);
    showTyping(channel, true);
    return api("POST", API.send, { channel: channel, user: user, text: text }, { timeout: 30000 })
      .then(function (data) {
        var replies = Array.isArray(data.replies) ? data.replies.map(String) : [];
        var items = replies.map(function (reply) { return { from: "bot", text: reply }; });
        if (!items.length) items.push({ from: "note", text: "(没有回复 · no reply)" });
        var chipsFor = -1;
        items.forEach(function (item, index) {
          if (item.from === "bot" && optionsOf(item.text).length) chipsFor = index;
        });
        showTyping(channel, false);
        addMessages(channel, user, items, chipsFor);
        return true;
      })
      .catch(function (err) {
        showTyping(channel, false);
        addMessages(channel, user, [{ from: "note", text: "发送失败 · not delivered: " + errorText(err), error: true }], -1);
        showError(chat.error, "发送失败 · sending failed: " + errorText(err));
        if (!chat.input.value && chat.user === user) chat.input.value = text; // so that it can be sent again
        return false;
      })
      .finally(function () {
        showTyping(channel, false);
        setBusy(channel, false);
        var active = document.activeElement;
        if (!active || active === document.body || chat.chat.contains(active)) chat.input.focus();
        pollOutbox(true);
        loadAppointments();
      });
  }

  function wireChat(channel) {
    var chat = state.chats[channel];
    chat.form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (chat.busy) return;
      var text = chat.input.value;
      if (!text.trim()) return;
      chat.input.value = "";
      sendMessage(channel, text);
    });
    chat.chat.addEventListener("click", function (event) {
      var chip = event.target.closest("button[data-send]");
      if (!chip || chip.disabled || !chat.chat.contains(chip)) return;
      sendMessage(channel, chip.getAttribute("data-send"));
    });
    chat.input.addEventListener("keydown", function (event) {
      // Enter that picks a candidate of a Chinese input method must not send the message
      if (event.key === "Enter" && (event.isComposing || event.keyCode === 229)) event.preventDefault();
    });
    chat.userInput.addEventListener("change", function () {
      applyUser(channel, chat.userInput.value);
    });
    chat.userInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        applyUser(channel, chat.userInput.value);
        chat.input.focus();
      }
    });
    chat.newUser.addEventListener("click", function () {
      applyUser(channel, channel === "wechat" ? newOpenid() : newPhone());
      chat.input.focus();
    });
    renderUserList(channel);
    var current = store("current." + channel);
    applyUser(channel, typeof current === "string" && current ? current : channel === "wechat" ? newOpenid() : newPhone());
  }

  // ------------------------------------------------------------------ outbox

  /** The recipients watched: the WeChat user, the SMS user and the extra phone, each once. */
  function watched() {
    var list = [];
    var seen = {};
    function add(to, label) {
      var trimmed = String(to || "").trim();
      if (!trimmed) return;
      var key = recipientKey(trimmed);
      if (seen[key]) return;
      seen[key] = true;
      list.push({ to: trimmed, key: key, label: label });
    }
    add(state.chats.wechat.user, "微信 WeChat");
    add(state.chats.sms.user, "短信 SMS");
    add($("watch-phone").value, "另看 watch");
    return list;
  }

  function onWatchChanged() {
    var list = watched();
    $("watching").textContent =
      "正在查看 Watching: " + list.map(function (w) { return w.label + " " + w.to; }).join(" · ");
    var signature = list.map(function (w) { return w.key; }).join("\n");
    if (signature !== state.outbox.signature) {
      state.outbox.signature = signature;
      state.outbox.generation += 1;
      state.outbox.keys = {};
      state.outbox.first = true;
      $("outbox").textContent = "";
      updateOutboxCount();
      pollOutbox(true);
    }
  }

  function updateOutboxCount() {
    var count = $("outbox").children.length;
    $("outbox").setAttribute("data-count", String(count));
    $("outbox-empty").hidden = count > 0;
  }

  function otpCodeOf(text) {
    var m = /(^|\D)(\d{6})(?!\d)/.exec(text) || /(^|\D)(\d{4,8})(?!\d)/.exec(text);
    return m ? m[2] : null;
  }

  /** Which chat a code sent to `to` belongs in: where that phone was typed, else the SMS chat if it is its user. */
  function codeTarget(to) {
    var phone = recipientKey(to);
    if (state.phoneChannel[phone]) return state.phoneChannel[phone];
    if (phone === recipientKey(state.chats.sms.user)) return "sms";
    return "wechat";
  }

  function outboxNode(message, fresh) {
    var kind = String(message.kind || "reply");
    var text = String(message.text || "");
    var textNode = el("p", { class: "outbox-text" });
    var code = kind === "otp" ? otpCodeOf(text) : null;
    if (code) {
      var at = text.indexOf(code);
      textNode.appendChild(document.createTextNode(text.slice(0, at)));
      textNode.appendChild(el("mark", { class: "otp-code", "data-testid": "otp-code", text: code }));
      textNode.appendChild(document.createTextNode(text.slice(at + code.length)));
    } else {
      textNode.textContent = text;
    }
    var node = el(
      "li",
      {
        class: "outbox-item" + (fresh ? " fresh" : ""),
        "data-kind": kind,
        "data-channel": message.channel || "",
        "data-to": message.to || "",
        "data-at": message.at || "",
      },
      [
        el("div", { class: "outbox-meta" }, [
          el("span", { class: "badge badge-" + (KIND_LABELS[kind] ? kind : "reply"), text: KIND_LABELS[kind] || kind }),
          el("span", { class: "badge badge-channel", text: CHANNEL_LABELS[message.channel] || message.channel || "?" }),
          el("span", { class: "outbox-to", text: "→ " + (message.to || "") }),
          el("time", { datetime: message.at || "", text: shortTime(message.at) }),
        ]),
        textNode,
      ]
    );
    if (code) {
      var target = codeTarget(message.to);
      var button = el(
        "button",
        {
          type: "button",
          class: "btn btn-small use-code",
          "data-code": code,
          "data-target": target,
          "data-testid": "use-code",
        },
        ["填入" + (target === "wechat" ? "微信" : "短信") + " ", el("span", { class: "en", text: "use code in " + (target === "wechat" ? "WeChat" : "SMS") })]
      );
      button.disabled = state.chats[target].busy;
      node.appendChild(el("div", { class: "outbox-actions" }, [button]));
    }
    return node;
  }

  /** Merge the newest answers into the list without touching the items already shown (calm for screen readers). */
  function renderOutbox(messages) {
    var list = $("outbox");
    var seenBase = {};
    var keyed = messages.map(function (message, index) {
      var base = [message.channel, recipientKey(message.to), message.at, message.kind, message.text].join("\u0001");
      seenBase[base] = (seenBase[base] || 0) + 1;
      return { message: message, key: base + "\u0001" + seenBase[base], index: index };
    });
    // newest first: by time; at equal times (a frozen clock) the one this page saw later, then the server's order
    var seen = state.outbox.seen;
    keyed.forEach(function (k) {
      if (!seen[k.key]) seen[k.key] = ++state.outbox.seenCounter;
    });
    keyed.sort(function (a, b) {
      var ta = isoMillis(a.message.at);
      var tb = isoMillis(b.message.at);
      if (!isNaN(ta) && !isNaN(tb) && ta !== tb) return tb - ta;
      if (seen[a.key] !== seen[b.key]) return seen[b.key] - seen[a.key];
      return b.index - a.index;
    });
    var wanted = {};
    keyed.forEach(function (k) { wanted[k.key] = true; });
    Object.keys(state.outbox.keys).forEach(function (key) {
      if (!wanted[key]) {
        state.outbox.keys[key].remove();
        delete state.outbox.keys[key];
      }
    });
    var next = null; // insert each one before the first already-shown item that comes after it
    for (var i = keyed.length - 1; i >= 0; i--) {
      var k = keyed[i];
      var existing = state.outbox.keys[k.key];
      if (existing) {
        next = existing;
        continue;
      }
      var node = outboxNode(k.message, !state.outbox.first);
      list.insertBefore(node, next); // null: at the end
      state.outbox.keys[k.key] = node;
      next = node;
    }
    state.outbox.first = false;
    updateOutboxCount();
  }

  function pollOutbox(force) {
    if (state.outbox.inflight) {
      if (force) state.outbox.again = true;
      return;
    }
    var targets = watched();
    if (!targets.length) return;
    var generation = state.outbox.generation;
    state.outbox.inflight = true;
    Promise.all(
      targets.map(function (target) {
        return api("GET", API.outbox + "?to=" + encodeURIComponent(target.to), undefined, { timeout: 10000 }).then(
          function (data) { return { ok: true, messages: Array.isArray(data.messages) ? data.messages : [] }; },
          function (err) { return { ok: false, error: target.to + ": " + errorText(err) }; }
        );
      })
    )
      .then(function (answers) {
        if (generation !== state.outbox.generation) return; // the watch list changed meanwhile
        var errors = answers.filter(function (a) { return !a.ok; }).map(function (a) { return a.error; });
        showError("outbox-error", errors.length ? "发件箱读取失败 · outbox: " + errors.join("; ") : "");
        var all = [];
        answers.forEach(function (a) { if (a.ok) all = all.concat(a.messages); });
        if (!errors.length || all.length) renderOutbox(all);
      })
      .finally(function () {
        state.outbox.inflight = false;
        if (state.outbox.again) {
          state.outbox.again = false;
          pollOutbox();
        }
      });
  }

  function startOutboxPolling() {
    if (state.outbox.timer) return;
    state.outbox.timer = window.setInterval(function () {
      if (!document.hidden) pollOutbox();
    }, OUTBOX_POLL_MS);
  }

  function wireOutbox() {
    var watch = $("watch-phone");
    watch.addEventListener("input", function () { state.watchAuto = watch.value.trim() === ""; });
    watch.addEventListener("change", onWatchChanged);
    watch.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        onWatchChanged();
      }
    });
    $("outbox").addEventListener("click", function (event) {
      var button = event.target.closest(".use-code");
      if (!button || button.disabled) return;
      var target = button.getAttribute("data-target");
      var code = button.getAttribute("data-code");
      if (state.chats[target].busy) {
        state.chats[target].input.value = code;
        return;
      }
      sendMessage(target, code);
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) pollOutbox();
    });
  }

  // ------------------------------------------------------------------ clock & info

  function today() {
    var p = isoParts(state.now);
    return p ? p.date : "";
  }

  function showNow(now) {
    if (!now) return;
    state.now = now;
    state.offset = isoOffset(now);
    var node = $("clock-now");
    var p = isoParts(now);
    node.setAttribute("datetime", now);
    node.textContent = p ? p.date + " " + weekday(p.date) + " " + p.hh + ":" + p.mm : now;
    node.title = now;
    var setInput = $("clock-set-input");
    if (p && document.activeElement !== setInput && !setInput.dataset.touched) setInput.value = p.date + "T" + p.hh + ":" + p.mm;
    var day = today();
    if (day && !state.staffDateTouched && $("staff-date").value !== day) {
      $("staff-date").value = day;
      loadAppointments();
    }
    if (day && !state.broadcastDateTouched) $("broadcast-date").value = day;
  }

  function fillHospitals(hospitals) {
    var signature = JSON.stringify(hospitals);
    if (signature === state.hospitalsSignature) return;
    state.hospitalsSignature = signature;
    state.hospitals = hospitals;
    ["staff-hospital", "broadcast-hospital"].forEach(function (id) {
      var select = $(id);
      var previous = select.value;
      select.textContent = "";
      hospitals.forEach(function (h) {
        select.appendChild(el("option", { value: h.id, text: h.name ? h.name + " (" + h.id + ")" : h.id }));
      });
      if (previous && hospitals.some(function (h) { return h.id === previous; })) select.value = previous;
    });
    fillDepartments("staff-department", $("staff-hospital").value, "全部科室 all");
    fillDepartments("broadcast-department", $("broadcast-hospital").value, "全部科室 all departments");
  }

  function fillDepartments(selectId, hospitalId, allLabel) {
    var select = $(selectId);
    var previous = select.value;
    select.textContent = "";
    select.appendChild(el("option", { value: "", text: allLabel }));
    var hospital = state.hospitals.filter(function (h) { return h.id === hospitalId; })[0];
    ((hospital && hospital.departments) || []).forEach(function (d) {
      select.appendChild(el("option", { value: d.id, text: d.name ? d.name + " (" + d.id + ")" : d.id }));
    });
    var still = Array.prototype.some.call(select.options, function (option) { return option.value === previous; });
    if (previous && still) select.value = previous;
  }

  function loadInfo() {
    return api("GET", API.info, undefined, { timeout: 10000 }).then(
      function (info) {
        var first = !state.info;
        state.info = info;
        // the server shows only a token --demo made; a configured one is typed in here and kept in this page only
        if (info.staff_token) state.token = info.staff_token;
        $("staff-token-form").hidden = Boolean(info.staff_token);
        $("banner").hidden = true;
        fillHospitals(Array.isArray(info.hospitals) ? info.hospitals : []);
        showNow(info.now);
        if (!state.token) showError("staff-error", "请输入工作人员令牌 · enter a staff token to use the staff desk");
        if (first) {
          loadAppointments();
          pollOutbox(true);
        }
        return true;
      },
      function (err) {
        var banner = $("banner");
        banner.textContent =
          "无法读取模拟器信息 · cannot read " + API.info + ": " + errorText(err) +
          (err.status === 404 ? " — 请用 guahao serve --demo 启动 · start with guahao serve --demo" : " — 稍后重试 · retrying");
        banner.hidden = false;
        return false;
      }
    );
  }

  function setClockBusy(busy) {
    state.clockBusy = busy;
    ["clock-plus-hour", "clock-plus-day", "clock-set"].forEach(function (id) { $(id).disabled = busy; });
    $("clock").setAttribute("aria-busy", busy ? "true" : "false");
    $("clock").setAttribute("data-busy", busy ? "true" : "false");
  }

  function moveClock(body) {
    if (state.clockBusy) return Promise.resolve(false);
    setClockBusy(true);
    showError("clock-error", "");
    return api("POST", API.clock, body, { timeout: 120000 }) // due jobs run before it answers
      .then(function (data) {
        showNow(data.now);
        return loadInfo();
      })
      .catch(function (err) {
        showError("clock-error", "时钟未能拨动 · clock not moved: " + errorText(err));
      })
      .finally(function () {
        setClockBusy(false);
        pollOutbox(true);
        loadAppointments();
      });
  }

  function wireClock() {
    $("clock-plus-hour").addEventListener("click", function () { moveClock({ advance_minutes: 60 }); });
    $("clock-plus-day").addEventListener("click", function () { moveClock({ advance_minutes: 1440 }); });
    var input = $("clock-set-input");
    input.addEventListener("input", function () { input.dataset.touched = "1"; });
    function setFromInput() {
      var value = input.value;
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) {
        showError("clock-error", "请选择日期和时间 · pick a date and time first");
        input.focus();
        return;
      }
      if (value.length === 16) value += ":00";
      delete input.dataset.touched;
      moveClock({ set: value + state.offset });
    }
    $("clock-set").addEventListener("click", setFromInput);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        setFromInput();
      }
    });
  }

  // ------------------------------------------------------------------ staff: appointments

  function byTime(a, b) {
    var ka = [a.date || "", a.start || "", a.department_name || "", a.doctor_name || "", pad(a.queue_no)].join("|");
    var kb = [b.date || "", b.start || "", b.department_name || "", b.doctor_name || "", pad(b.queue_no)].join("|");
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  }

  function pad(n) {
    return ("00000" + (n === undefined || n === null ? "" : n)).slice(-5);
  }

  function appointmentRow(a) {
    var status = String(a.status || "");
    var action = null;
    if (status === "booked") {
      action = el("button", {
        type: "button",
        class: "btn btn-small checkin",
        "data-serial": a.serial,
        "aria-label": "签到 check in " + a.serial + " " + (a.patient_name_masked || ""),
        text: "签到 check in",
      });
    }
    var showDate = a.date && a.date !== $("staff-date").value;
    return el("tr", { "data-serial": a.serial, "data-status": status }, [
      el("td", { class: "serial", text: a.serial }),
      el("td", { text: (showDate ? a.date + " " : "") + (a.start || "") + (a.end ? "–" + a.end : "") }),
      el("td", { text: a.patient_name_masked || "" }),
      el("td", { text: a.department_name || a.department || "" }),
      el("td", { text: a.doctor_name || a.doctor || "" }),
      el("td", { class: "num", text: a.queue_no === undefined || a.queue_no === null ? "" : String(a.queue_no) }),
      el("td", {}, [el("span", { class: "status status-" + status, text: STATUS_LABELS[status] || status })]),
      el("td", {}, [action]),
    ]);
  }

  function loadAppointments() {
    if (!state.token) return Promise.resolve(false);
    var seq = ++state.staffSeq;
    var params = [];
    var date = $("staff-date").value;
    var hospital = $("staff-hospital").value;
    var department = $("staff-department").value;
    if (date) params.push("date=" + encodeURIComponent(date));
    if (hospital) params.push("hospital=" + encodeURIComponent(hospital));
    if (department) params.push("department=" + encodeURIComponent(department));
    var table = $("staff-table");
    table.setAttribute("aria-busy", "true");
    return api("GET", API.appointments + (params.length ? "?" + params.join("&") : ""), undefined, { staff: true })
      .then(function (data) {
        if (seq !== state.staffSeq) return false; // a newer request is on its way
        var rows = $("staff-rows");
        rows.textContent = "";
        var list = (Array.isArray(data.appointments) ? data.appointments : []).slice().sort(byTime);
        list.forEach(function (a) { rows.appendChild(appointmentRow(a)); });
        if (!list.length) {
          rows.appendChild(el("tr", {}, [el("td", { colspan: "8", class: "empty-row", text: "没有预约 · no appointments" })]));
        }
        showError("staff-error", "");
        table.setAttribute("data-loaded", String(seq));
        table.setAttribute("data-count", String(list.length));
        return true;
      })
      .catch(function (err) {
        if (seq === state.staffSeq) showError("staff-error", "预约列表读取失败 · appointments: " + errorText(err));
        return false;
      })
      .finally(function () {
        if (seq === state.staffSeq) table.setAttribute("aria-busy", "false");
      });
  }

  function checkIn(button) {
    var serial = button.getAttribute("data-serial");
    button.disabled = true;
    showError("staff-error", "");
    api("POST", API.appointments + "/" + encodeURIComponent(serial) + "/checkin", undefined, { staff: true })
      .then(function (appointment) {
        var row = button.closest("tr");
        if (appointment && appointment.serial && row) {
          var fresh = appointmentRow(appointment);
          row.replaceWith(fresh);
          var status = fresh.querySelector(".status");
          if (status) status.setAttribute("tabindex", "-1");
          if (status) status.focus();
        } else {
          loadAppointments();
        }
      })
      .catch(function (err) {
        button.disabled = false;
        showError("staff-error", "签到失败 · check-in of " + serial + " failed: " + errorText(err));
      });
  }

  function wireStaff() {
    $("staff-token-form").addEventListener("submit", function (event) {
      event.preventDefault();
      state.token = $("staff-token").value.trim() || null;
      showError("staff-error", "");
      loadAppointments();
    });
    $("staff-filter").addEventListener("submit", function (event) {
      event.preventDefault();
      loadAppointments();
    });
    $("staff-date").addEventListener("change", function () {
      state.staffDateTouched = true;
      loadAppointments();
    });
    $("staff-hospital").addEventListener("change", function () {
      fillDepartments("staff-department", $("staff-hospital").value, "全部科室 all");
      loadAppointments();
    });
    $("staff-department").addEventListener("change", loadAppointments);
    $("staff-rows").addEventListener("click", function (event) {
      var button = event.target.closest(".checkin");
      if (button && !button.disabled) checkIn(button);
    });
  }

  // ------------------------------------------------------------------ staff: broadcasts

  function showProgress(progress) {
    var box = $("broadcast-progress");
    box.hidden = false;
    var status = String(progress.status || "");
    var total = Number(progress.total) || 0;
    var sent = Number(progress.sent) || 0;
    var failed = Number(progress.failed) || 0;
    box.setAttribute("data-status", status);
    if (progress.id !== undefined && progress.id !== null) box.setAttribute("data-id", String(progress.id));
    box.setAttribute("data-total", String(total));
    box.setAttribute("data-sent", String(sent));
    box.setAttribute("data-failed", String(failed));
    var bar = $("broadcast-bar");
    bar.max = Math.max(total, 1);
    bar.value = total ? sent + failed : status === "done" ? 1 : 0;
    $("broadcast-status").textContent =
      (BROADCAST_STATUS[status] || status || "…") +
      " · 共 total " + total + " · 已发 sent " + sent + " · 失败 failed " + failed +
      (progress.id ? " · #" + progress.id : "");
  }

  function followBroadcast(id, startedAt) {
    return api("GET", API.broadcasts + "/" + encodeURIComponent(id), undefined, { staff: true }).then(
      function (progress) {
        showProgress(progress);
        if (progress.status === "done" || progress.status === "failed") {
          if (progress.status === "failed") showError("broadcast-error", "群发失败 · broadcast " + id + " failed");
          return progress;
        }
        if (Date.now() - startedAt > BROADCAST_GIVE_UP_MS) {
          showError("broadcast-error", "群发仍未完成,已停止跟踪 · still not done; stopped following " + id);
          return progress;
        }
        return new Promise(function (resolve) { window.setTimeout(resolve, BROADCAST_POLL_MS); }).then(function () {
          return followBroadcast(id, startedAt);
        });
      }
    );
  }

  function wireBroadcast() {
    var form = $("broadcast-form");
    $("broadcast-hospital").addEventListener("change", function () {
      fillDepartments("broadcast-department", $("broadcast-hospital").value, "全部科室 all departments");
    });
    $("broadcast-date").addEventListener("change", function () { state.broadcastDateTouched = true; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var submit = $("broadcast-submit");
      if (submit.disabled) return;
      var body = {
        hospital: $("broadcast-hospital").value,
        date: $("broadcast-date").value,
        text: $("broadcast-text").value.trim(),
        cancel: $("broadcast-cancel").checked,
      };
      var department = $("broadcast-department").value;
      var doctor = $("broadcast-doctor").value.trim();
      if (department) body.department = department;
      if (doctor) body.doctor = doctor;
      if (!body.hospital || !body.date || !body.text) {
        showError("broadcast-error", "请填写医院、日期和内容 · hospital, date and text are required");
        return;
      }
      showError("broadcast-error", "");
      submit.disabled = true;
      form.setAttribute("aria-busy", "true");
      var box = $("broadcast-progress");
      box.removeAttribute("data-id");
      showProgress({ status: "posting", total: 0, sent: 0, failed: 0 });
      api("POST", API.broadcasts, body, { staff: true })
        .then(function (created) {
          if (!created || created.id === undefined || created.id === null) throw new ApiError("服务器没有返回编号 · no id in the answer", 0);
          showProgress({ id: created.id, status: "queued", total: 0, sent: 0, failed: 0 });
          return followBroadcast(String(created.id), Date.now());
        })
        .catch(function (err) {
          box.setAttribute("data-status", "error");
          showError("broadcast-error", "群发失败 · broadcast: " + errorText(err));
        })
        .finally(function () {
          submit.disabled = false;
          form.setAttribute("aria-busy", "false");
          pollOutbox(true);
          loadAppointments();
        });
    });
  }

  // ------------------------------------------------------------------ start

  function start() {
    wireClock();
    wireStaff();
    wireBroadcast();
    wireOutbox();
    CHANNELS.forEach(wireChat);
    onWatchChanged();
    startOutboxPolling();
    function retryInfo() {
      loadInfo().then(function (ok) {
        state.infoTimer = window.setTimeout(retryInfo, ok ? INFO_POLL_MS : 5000);
      });
    }
    retryInfo();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

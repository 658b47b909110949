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
  var STAFF_PROBE_DAYS = 15; // how far the staff desk looks ahead for the next day with appointments

  // Every message the page itself writes, in the page's language (the switch at the top; ?lang=en|zh). A message
  // says what happened and what to do. Elements with data-t="key" take their text from here too.
  var TEXTS = {
    "lang.label": ["语言", "Language"],
    "staff.title": ["医院工作台", "Staff desk"],
    "staff.hint": [
      "需要工作人员令牌:只保存在本浏览器会话中,不会显示出来。",
      "Needs a staff token: kept in this browser session only, never shown.",
    ],
    "staff.token": ["工作人员令牌", "Staff token"],
    "staff.token_use": ["使用", "Use"],
    "staff.token_set": ["已使用工作人员令牌(仅本浏览器会话)。", "A staff token is in use (this browser session only)."],
    "staff.token_demo": ["演示模式:使用演示令牌。", "Demo: the demo's own token is in use."],
    "staff.token_forget": ["更换令牌", "Change token"],
    "staff.date": ["日期", "Date"],
    "staff.hospital": ["医院", "Hospital"],
    "staff.department": ["科室", "Department"],
    "staff.all_departments": ["全部科室", "All departments"],
    "staff.refresh": ["刷新", "Refresh"],
    "staff.caption": ["{date} 的预约", "Appointments on {date}"],
    "staff.col_serial": ["编号", "Serial"],
    "staff.col_time": ["时间", "Time"],
    "staff.col_patient": ["患者", "Patient"],
    "staff.col_department": ["科室", "Dept."],
    "staff.col_doctor": ["医生", "Doctor"],
    "staff.col_queue": ["号序", "Queue"],
    "staff.col_status": ["状态", "Status"],
    "staff.col_actions": ["操作", "Actions"],
    "staff.none": ["{date} 没有预约。", "No appointments on {date}."],
    "staff.checkin": ["签到", "Check in"],
    "staff.checkin_label": ["为 {serial} 签到", "Check in {serial}"],
    "staff.checkin_on_day": ["就诊当天可签到", "Check-in on the visit day"],
    "staff.need_token": [
      "请输入工作人员令牌,才能查看预约和签到。",
      "Enter a staff token to see appointments and check patients in.",
    ],
    "staff.token_refused": [
      "工作人员令牌无效,已清除。请重新输入正确的令牌。",
      "The staff token was refused and is cleared. Enter a valid staff token.",
    ],
    "staff.out_of_scope": [
      "此令牌无权查看或操作 {hospital} 的预约。请选择本令牌所属的医院,或换用该医院的令牌。",
      "This token may not act for {hospital}. Choose a hospital of this token, or use that hospital's token.",
    ],
    "staff.load_failed": ["预约列表读取失败:{why}", "The appointments could not be read: {why}"],
    "staff.bad_filter": ["日期或医院不正确,请重新选择后刷新。", "The date or hospital is not valid: choose again and refresh."],
    "checkin.not_today": [
      "{serial} 的就诊日是 {date},今天是 {today}:只能在就诊当天签到。请在 {date} 当天签到。",
      "Appointment {serial} is on {date} and today is {today}: check-in is possible only on the visit day. Check in on {date}.",
    ],
    "checkin.too_late": [
      "{serial} 已过签到截止时间,不能再签到。患者未就诊将记爽约;如有正当理由,可在记爽约后豁免。",
      "The check-in deadline of {serial} has passed: it can no longer be checked in. A missed visit counts as a no-show, which staff can waive for a good reason.",
    ],
    "checkin.not_found": ["找不到预约 {serial}:请刷新列表。", "Appointment {serial} was not found: refresh the list."],
    "checkin.failed": ["{serial} 签到失败:{why}", "Check-in of {serial} failed: {why}"],
    "broadcast.title": ["群发通知", "Broadcast"],
    "broadcast.hospital": ["医院", "Hospital"],
    "broadcast.department": ["科室(可选)", "Department (optional)"],
    "broadcast.doctor": ["医生编号(可选)", "Doctor id (optional)"],
    "broadcast.date": ["日期", "Date"],
    "broadcast.text": ["通知内容(最多 {max} 字,按一条短信发送)", "Text (at most {max} characters: it goes out as one SMS)"],
    "broadcast.placeholder": ["例如:因故停诊,请改约。", "e.g. The clinic is closed today; please book another day."],
    "broadcast.cancel": ["同时取消这些预约(停诊)", "Also cancel these appointments (clinic closed)"],
    "broadcast.submit": ["发送通知", "Send broadcast"],
    "broadcast.required": ["请填写医院、日期和通知内容。", "Fill in the hospital, the date and the text."],
    "broadcast.too_long": [
      "通知内容 {n} 字,最多 {max} 字(按一条短信发送)。请删减后再发。",
      "The text has {n} characters, at most {max} (it goes out as one SMS). Shorten it and send again.",
    ],
    "broadcast.rejected": ["服务器拒绝了这次群发:请检查各项后重试。", "The server refused this broadcast: check each field and try again."],
    "broadcast.failed": ["群发失败:{why}", "The broadcast failed: {why}"],
    "broadcast.run_failed": ["群发 {id} 未能全部发出:请稍后查看发件箱,必要时重发。", "Broadcast {id} could not send everything: check the outbox and send again if needed."],
    "broadcast.gave_up": ["群发 {id} 仍未完成,已停止跟踪:稍后刷新查看。", "Broadcast {id} is still running; no longer followed here: refresh later."],
    "broadcast.no_id": ["服务器没有返回群发编号:请刷新页面后查看。", "The server gave no broadcast id: reload the page and check."],
    "broadcast.progress": ["{status} · 共 {total} · 已发 {sent} · 失败 {failed}", "{status} · total {total} · sent {sent} · failed {failed}"],
    "bstatus.posting": ["提交中", "posting"],
    "bstatus.queued": ["排队中", "queued"],
    "bstatus.running": ["发送中", "running"],
    "bstatus.done": ["完成", "done"],
    "bstatus.failed": ["失败", "failed"],
    "status.booked": ["已预约", "booked"],
    "status.cancelled": ["已取消", "cancelled"],
    "status.cancelled_late": ["逾期取消", "cancelled late"],
    "status.cancelled_by_hospital": ["医院停诊", "cancelled by the hospital"],
    "status.attended": ["已就诊", "attended"],
    "status.no_show": ["爽约", "no-show"],
    "status.no_show_waived": ["爽约已豁免", "no-show waived"],
    "err.network": ["无法连接服务器:请检查服务是否在运行,然后重试。", "The server cannot be reached: check that it is running, then try again."],
    "err.timeout": ["服务器响应超时:请稍后重试。", "The server did not answer in time: try again shortly."],
    "err.not_json": ["服务器的回答无法读取:请刷新页面。", "The server's answer could not be read: reload the page."],
    "err.http": ["服务器返回错误 {status}:请稍后重试;如仍失败,请查看服务器日志。", "The server answered with error {status}: try again later; if it persists, check the server's log."],
    "err.bad_request": ["请求有误:请检查填写的内容。", "The request was not accepted: check what was entered."],
    "err.not_found": ["找不到:请确认模拟器已开启(guahao serve --demo,或配置 server.simulator = true)。", "Not found: check that the simulator is on (guahao serve --demo, or server.simulator = true)."],
    "chat.need_user": ["请先选择或填写用户。", "Choose or type a user first."],
    "chat.not_mobile": ["“{user}”不是大陆手机号:机器人可能不接受,请换一个号码。", "\"{user}\" is not a mainland mobile number: the bot may refuse it; use another number."],
    "chat.no_reply": ["(没有回复)", "(no reply)"],
    "chat.not_delivered": ["未送达:{why}", "Not delivered: {why}"],
    "outbox.failed": ["发件箱读取失败:{why}", "The outbox could not be read: {why}"],
    "outbox.watching": ["正在查看:{list}", "Watching: {list}"],
    "page.title": ["挂号助手 · 模拟器", "Guahao simulator"],
    "page.skip": ["跳到主要内容", "Skip to content"],
    "page.subtitle": ["微信与短信预约挂号 · 网页模拟器", "WeChat and SMS booking bot · web simulator"],
    "page.footer": [
      "演示模式:消息不会真正发出,全部显示在发件箱。",
      "Demo mode: nothing leaves this machine; every outbound message lands in the outbox.",
    ],
    "clock.title": ["部署时钟", "Deployment clock"],
    "clock.now": ["部署时间", "Deployment time"],
    "clock.move": ["拨动时钟", "Move the clock"],
    "clock.plus_hour": ["+1 小时", "+1 hour"],
    "clock.plus_day": ["+1 天", "+1 day"],
    "clock.to": ["跳到", "To a date"],
    "clock.set": ["设置", "Set"],
    "chat.wechat": ["微信用户", "WeChat user"],
    "chat.sms": ["短信用户", "SMS user"],
    "chat.openid": ["用户 OpenID", "User OpenID"],
    "chat.phone": ["手机号", "Phone"],
    "chat.new_user": ["新用户", "New"],
    "chat.new_user_hint": ["换一个新用户", "A new user"],
    "chat.wechat_log": ["微信对话", "WeChat conversation"],
    "chat.sms_log": ["短信对话", "SMS conversation"],
    "chat.quick": ["快捷消息", "Quick messages"],
    "chat.wechat_input": ["微信消息", "WeChat message"],
    "chat.sms_input": ["短信内容", "SMS message"],
    "chat.wechat_placeholder": ["输入消息,回车发送", "Type a message, Enter to send"],
    "chat.sms_placeholder": ["输入短信,回车发送", "Type a text, Enter to send"],
    "chat.send": ["发送", "Send"],
    "chat.me": ["我", "me"],
    "chat.bot": ["挂号助手", "bot"],
    "chat.note": ["提示", "note"],
    "chat.options": ["选项", "options"],
    "chat.wechat_welcome": ["发送“菜单”开始,或点下面的快捷按钮。", "Send 菜单 (menu) to start, or tap a quick button below."],
    "chat.sms_welcome": ["发送“预约”或“帮助”开始。", "Send 预约 (BOOK) or 帮助 (HELP) to start."],
    "outbox.title": ["发件箱", "Outbox"],
    "outbox.hint": ["验证码、确认、提醒、通知", "Codes, confirmations, reminders, broadcasts"],
    "outbox.watch": ["另看手机号", "Watch phone"],
    "outbox.watch_placeholder": ["例如 13812345678", "e.g. 13812345678"],
    "outbox.watch_label": ["另看", "watch"],
    "outbox.empty": ["暂无消息", "Nothing sent yet"],
    "outbox.list": ["发出的消息,最新在前", "Outbound messages, newest first"],
    "kind.otp": ["验证码", "code"],
    "kind.confirmation": ["预约确认", "confirmation"],
    "kind.reminder": ["就诊提醒", "reminder"],
    "kind.broadcast": ["医院通知", "broadcast"],
    "kind.cancellation": ["取消通知", "cancellation"],
    "kind.offer": ["候补有号", "waitlist offer"],
    "kind.waitlist_skipped": ["候补未成功", "waitlist: passed over"],
    "kind.rescheduled": ["改约成功", "rescheduled"],
    "kind.reply": ["回复", "reply"],
    "kind.no_show": ["爽约记录", "no-show"],
    "kind.lottery": ["抽签结果", "lottery result"],
    "channel.wechat": ["微信", "WeChat"],
    "channel.sms": ["短信", "SMS"],
    "clock.pick": ["请先选择日期和时间。", "Pick a date and time first."],
    "clock.failed": ["时钟未能拨动:{why}", "The clock was not moved: {why}"],
    "info.failed": ["无法读取模拟器信息:{why}", "The simulator's information could not be read: {why}"],
  };
  var LANGS = ["zh", "en"];

  function pageLang() {
    var asked = /[?&]lang=(zh|en)\b/.exec(window.location.search);
    if (asked) return asked[1];
    var kept = store("lang");
    return LANGS.indexOf(kept) >= 0 ? kept : "zh";
  }

  /** The text ``key`` in the page's language, {placeholders} filled. */
  function t(key, values) {
    var pair = TEXTS[key];
    var template = pair ? pair[state.lang === "en" ? 1 : 0] : key;
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined && values[name] !== null ? String(values[name]) : whole;
    });
  }

  /** Put the page's language into every element marked data-t (text), data-t-placeholder and data-t-label. */
  function applyLanguage() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    document.documentElement.setAttribute("data-lang", state.lang);
    document.title = t("page.title");
    Array.prototype.forEach.call(document.querySelectorAll("[data-t]"), function (node) {
      node.textContent = t(node.getAttribute("data-t"), { max: BROADCAST_MAX });
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-t-placeholder]"), function (node) {
      node.setAttribute("placeholder", t(node.getAttribute("data-t-placeholder")));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-t-label]"), function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-t-label")));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-t-title]"), function (node) {
      node.setAttribute("title", t(node.getAttribute("data-t-title")));
    });
    LANGS.forEach(function (lang) {
      var button = $("lang-" + lang);
      if (button) button.setAttribute("aria-pressed", state.lang === lang ? "true" : "false");
    });
  }

  var BROADCAST_MAX = 50; // bot/broadcast_request.MAX_TEXT: each patient gets the text in one SMS
  var WEEKDAYS = ["周日", "周一", "周二", "周三", "周四", "周五", "周六"];
  var WEEKDAYS_EN = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

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
    var names = state.lang === "en" ? WEEKDAYS_EN : WEEKDAYS;
    return names[new Date(Date.UTC(+p[0], +p[1] - 1, +p[2])).getUTCDay()];
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

  /** A failed call: ``status`` (0: no answer), ``reason`` (network, timeout, not_json, token) and the server's own
   * words in ``detail`` (English, for the log; never shown as the message). ``message`` is in the page's language. */
  function ApiError(message, status, reason, detail) {
    this.message = message;
    this.status = status;
    this.reason = reason || "";
    this.detail = detail || "";
  }

  /** fetch JSON; resolves to the parsed body of a 2xx answer, rejects with an ApiError whose message says why. */
  function api(method, path, body, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (options.staff) {
      if (!state.token) return Promise.reject(new ApiError(t("staff.need_token"), 0, "token"));
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
              if (data === null) throw new ApiError(t("err.not_json"), response.status, "not_json");
              return data;
            }
            var detail = serverWords(data, text);
            if (detail && window.console) window.console.info(method + " " + path + " → " + response.status + ": " + detail);
            throw new ApiError(describeFailure(response.status), response.status, "", detail);
          });
        },
        function (err) {
          if (err && err.name === "AbortError") throw new ApiError(t("err.timeout"), 0, "timeout");
          throw new ApiError(t("err.network"), 0, "network");
        }
      )
      .finally(function () {
        if (timer) window.clearTimeout(timer);
      });
  }

  /** The server's own words about a failure (English), for the browser's console only. */
  function serverWords(data, text) {
    if (data && typeof data.error === "string") return data.error;
    if (data && Array.isArray(data.errors)) {
      return data.errors
        .map(function (e) {
          return (e.line ? "line " + e.line + ": " : "") + (e.reason || JSON.stringify(e));
        })
        .join("; ");
    }
    return text && text.length < 300 && !/</.test(text) ? text.trim() : "";
  }

  /** What a failed answer means, in the page's language, with what to do (a caller may say more precisely). */
  function describeFailure(status) {
    if (status === 401) return t("staff.token_refused");
    if (status === 400) return t("err.bad_request");
    if (status === 404) return t("err.not_found");
    return t("err.http", { status: status });
  }

  function errorText(err) {
    return err && err.message ? err.message : String(err);
  }

  // ------------------------------------------------------------------ state

  var state = {
    lang: "zh",
    demoToken: false,
    staffToday: "",
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
      showError(chat.error, t("chat.need_user"));
      return;
    }
    chat.userInput.value = user;
    if (user === chat.user) return;
    chat.user = user;
    rememberUser(channel, user);
    if (channel === "sms" && !normalizePhone(user)) {
      showError(chat.error, t("chat.not_mobile", { user: user }));
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
    var who = item.from === "user" ? t("chat.me") : item.from === "bot" ? t("chat.bot") : t("chat.note");
    var node = el("div", { class: classes, "data-from": item.from }, [
      el("span", { class: "sr-only", text: who + ":" }),
      el("div", { class: "bubble", text: item.text }),
    ]);
    if (withChips) {
      var options = optionsOf(item.text);
      if (options.length) {
        var chips = el("div", { class: "chips", role: "group", "aria-label": t("chat.options") });
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
    var text = t(channel === "wechat" ? "chat.wechat_welcome" : "chat.sms_welcome");
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
      showError(chat.error, t("chat.need_user"));
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
        if (!items.length) items.push({ from: "note", text: t("chat.no_reply") });
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
        addMessages(channel, user, [{ from: "note", text: t("chat.not_delivered", { why: errorText(err) }), error: true }], -1);
        showError(chat.error, t("chat.not_delivered", { why: errorText(err) }));
        if (!chat.input.value && chat.user === user) chat.input.value = text; // so that it can be sent again
        return false;
      })
      .finally(function () {
        showTyping(channel, false);
        setBusy(channel, false);
        var active = document.activeElement;
        if (!active || active === document.body || chat.chat.contains(active)) chat.input.focus();
        pollOutbox(true);
        refreshStaff();
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
    add(state.chats.wechat.user, t("channel.wechat"));
    add(state.chats.sms.user, t("channel.sms"));
    add($("watch-phone").value, t("outbox.watch_label"));
    return list;
  }

  function onWatchChanged() {
    var list = watched();
    $("watching").textContent =
      t("outbox.watching", { list: list.map(function (w) { return w.label + " " + w.to; }).join(" · ") });
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
          el("span", { class: "badge badge-" + (TEXTS["kind." + kind] ? kind : "reply"), text: TEXTS["kind." + kind] ? t("kind." + kind) : kind }),
          el("span", { class: "badge badge-channel", text: TEXTS["channel." + message.channel] ? t("channel." + message.channel) : message.channel || "?" }),
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
        showError("outbox-error", errors.length ? t("outbox.failed", { why: errors.join("; ") }) : "");
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
    if (day && day !== state.staffToday) {
      state.staffToday = day; // a new day on the deployment clock: the desk looks again for its next busy day
      if (!state.staffDateTouched) openStaffDesk();
      else loadAppointments();
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
        select.appendChild(el("option", { value: h.id, text: nameOf(h) + " (" + h.id + ")" }));
      });
      if (previous && hospitals.some(function (h) { return h.id === previous; })) select.value = previous;
    });
    fillDepartments("staff-department", $("staff-hospital").value);
    fillDepartments("broadcast-department", $("broadcast-hospital").value);
  }

  /** A hospital's or department's name in the page's language (the configured English name, when there is one). */
  function nameOf(item) {
    if (!item) return "";
    return (state.lang === "en" && item.name_en) || item.name || item.id;
  }

  function departmentName(a) {
    var hospital = state.hospitals.filter(function (h) { return h.id === a.hospital; })[0];
    var found = ((hospital && hospital.departments) || []).filter(function (d) { return d.id === a.department; })[0];
    return found ? nameOf(found) : a.department_name || a.department || "";
  }

  function fillDepartments(selectId, hospitalId) {
    var select = $(selectId);
    var previous = select.value;
    select.textContent = "";
    select.appendChild(el("option", { value: "", text: t("staff.all_departments") }));
    var hospital = state.hospitals.filter(function (h) { return h.id === hospitalId; })[0];
    ((hospital && hospital.departments) || []).forEach(function (d) {
      select.appendChild(el("option", { value: d.id, text: nameOf(d) + " (" + d.id + ")" }));
    });
    var still = Array.prototype.some.call(select.options, function (option) { return option.value === previous; });
    if (previous && still) select.value = previous;
  }

  function loadInfo() {
    return api("GET", API.info, undefined, { timeout: 10000 }).then(
      function (info) {
        var first = !state.info;
        state.info = info;
        // the server shows only a token --demo made; a configured one is typed in here, kept in this browser
        // session only (sessionStorage), and never written back into the page
        state.demoToken = Boolean(info.staff_token);
        $("outbox-only-note").hidden = info.outbox_only !== true; // real providers configured: messages do leave
        if (info.staff_token) state.token = info.staff_token;
        $("banner").hidden = true;
        fillHospitals(Array.isArray(info.hospitals) ? info.hospitals : []);
        showTokenState();
        showNow(info.now);
        if (first) pollOutbox(true);
        return true;
      },
      function (err) {
        var banner = $("banner");
        banner.textContent = t("info.failed", { why: errorText(err) });
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
        showError("clock-error", t("clock.failed", { why: errorText(err) }));
      })
      .finally(function () {
        setClockBusy(false);
        pollOutbox(true);
        refreshStaff();
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
        showError("clock-error", t("clock.pick"));
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
    if (status === "booked" && a.date === today()) {
      // check-in (取号) is only on the visit day: the button is offered on that day only
      action = el("button", {
        type: "button",
        class: "btn btn-small checkin",
        "data-serial": a.serial,
        "data-date": a.date,
        "aria-label": t("staff.checkin_label", { serial: a.serial }) + " " + (a.patient_name_masked || ""),
        text: t("staff.checkin"),
      });
    } else if (status === "booked") {
      action = el("span", { class: "muted checkin-later", text: t("staff.checkin_on_day") });
    }
    var showDate = a.date && a.date !== $("staff-date").value;
    return el("tr", { "data-serial": a.serial, "data-status": status, "data-date": a.date || "" }, [
      el("td", { class: "serial", text: a.serial }),
      el("td", { text: (showDate ? a.date + " " : "") + (a.start || "") + (a.end ? "–" + a.end : "") }),
      el("td", { text: a.patient_name_masked || "" }),
      el("td", { text: departmentName(a) }),
      el("td", { text: a.doctor_name || a.doctor || "" }),
      el("td", { class: "num", text: a.queue_no === undefined || a.queue_no === null ? "" : String(a.queue_no) }),
      el("td", {}, [el("span", { class: "status status-" + status, text: TEXTS["status." + status] ? t("status." + status) : status })]),
      el("td", {}, [action]),
    ]);
  }

  /** A staff call's failure in the page's language: what happened and what to do. */
  function staffFailure(err, what) {
    if (err.status === 401 || err.reason === "token") {
      if (err.status === 401) forgetToken();
      return err.status === 401 ? t("staff.token_refused") : t("staff.need_token");
    }
    if (err.status === 403) return t("staff.out_of_scope", { hospital: nameOf(selectedHospital()) });
    return what(err);
  }

  function selectedHospital() {
    var id = $("staff-hospital").value;
    return state.hospitals.filter(function (h) { return h.id === id; })[0] || { id: id };
  }

  function listingPath(date) {
    var params = [];
    var hospital = $("staff-hospital").value;
    var department = $("staff-department").value;
    if (date) params.push("date=" + encodeURIComponent(date));
    if (hospital) params.push("hospital=" + encodeURIComponent(hospital));
    if (department) params.push("department=" + encodeURIComponent(department));
    return API.appointments + (params.length ? "?" + params.join("&") : "");
  }

  function addDays(dateText, n) {
    var p = dateText.split("-");
    var d = new Date(Date.UTC(+p[0], +p[1] - 1, +p[2] + n));
    return d.toISOString().slice(0, 10);
  }

  /** Open the desk on the next day with appointments, from today on (today only when it has some: a fresh booking
   * is never for today); tomorrow when none is found within STAFF_PROBE_DAYS. */
  function openStaffDesk() {
    var day = today();
    if (!day || !state.token) {
      if (day) $("staff-date").value = addDays(day, 1);
      return Promise.resolve(false);
    }
    var seq = ++state.staffSeq;
    state.probing = seq;
    function probe(n) {
      if (n >= STAFF_PROBE_DAYS) return Promise.resolve(addDays(day, 1));
      var candidate = addDays(day, n);
      return api("GET", listingPath(candidate), undefined, { staff: true }).then(function (data) {
        var found = Array.isArray(data.appointments) && data.appointments.length > 0;
        return found ? candidate : probe(n + 1);
      });
    }
    return probe(0)
      .then(
        function (chosen) {
          if (seq !== state.staffSeq || state.staffDateTouched) return false;
          $("staff-date").value = chosen;
          state.probing = 0;
          return loadAppointments();
        },
        function (err) {
          if (seq === state.staffSeq) showError("staff-error", staffFailure(err, loadFailure));
          return false;
        }
      )
      .finally(function () {
        if (state.probing === seq) state.probing = 0;
      });
  }

  /** After a chat message or a clock move: the desk looks for its next busy day again while the shown day is empty
   * and was not chosen by hand; else the shown day is reloaded. Nothing while the desk is still looking. */
  function refreshStaff() {
    if (state.probing) return;
    var empty = $("staff-table").getAttribute("data-count") === "0";
    if (!state.staffDateTouched && empty) openStaffDesk();
    else loadAppointments();
  }

  function loadFailure(err) {
    if (err.status === 400) return t("staff.bad_filter");
    return t("staff.load_failed", { why: errorText(err) });
  }

  function loadAppointments() {
    var date = $("staff-date").value;
    $("staff-caption").textContent = t("staff.caption", { date: date || "—" });
    if (!state.token) return Promise.resolve(false);
    var seq = ++state.staffSeq;
    var table = $("staff-table");
    table.setAttribute("aria-busy", "true");
    return api("GET", listingPath(date), undefined, { staff: true })
      .then(function (data) {
        if (seq !== state.staffSeq) return false; // a newer request is on its way
        var rows = $("staff-rows");
        rows.textContent = "";
        var list = (Array.isArray(data.appointments) ? data.appointments : []).slice().sort(byTime);
        list.forEach(function (a) { rows.appendChild(appointmentRow(a)); });
        if (!list.length) {
          rows.appendChild(el("tr", {}, [el("td", { colspan: "8", class: "empty-row", text: t("staff.none", { date: date }) })]));
        }
        showError("staff-error", "");
        table.setAttribute("data-loaded", String(seq));
        table.setAttribute("data-count", String(list.length));
        return true;
      })
      .catch(function (err) {
        if (seq === state.staffSeq) showError("staff-error", staffFailure(err, loadFailure));
        return false;
      })
      .finally(function () {
        if (seq === state.staffSeq) table.setAttribute("aria-busy", "false");
      });
  }

  function checkIn(button) {
    var serial = button.getAttribute("data-serial");
    var date = button.getAttribute("data-date");
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
        // refused as too early or too late: read the deployment clock again (another page may have moved it) to say which
        var clock = err.status === 409 ? api("GET", API.clock, undefined, { timeout: 10000 }).then(function (data) {
          showNow(data.now);
        }, function () {}) : Promise.resolve();
        return clock.then(function () {
          showError("staff-error", staffFailure(err, function () {
            if (err.status === 409 && date !== today()) return t("checkin.not_today", { serial: serial, date: date, today: today() });
            if (err.status === 409) return t("checkin.too_late", { serial: serial });
            if (err.status === 404) return t("checkin.not_found", { serial: serial });
            return t("checkin.failed", { serial: serial, why: errorText(err) });
          }));
          if (err.status === 409) {
            var message = $("staff-error").textContent;
            return loadAppointments().then(function () { showError("staff-error", message); }); // what can be done now
          }
          return null;
        });
      });
  }

  // ------------------------------------------------------------------ staff token (this browser session only)

  function forgetToken() {
    if (state.demoToken) return;
    state.token = null;
    sessionStore("staffToken", null);
    showTokenState();
  }

  function showTokenState() {
    var form = $("staff-token-form");
    var using = $("staff-token-state");
    form.hidden = Boolean(state.token);
    using.hidden = !state.token;
    $("staff-token-forget").hidden = state.demoToken;
    $("staff-token-state-text").textContent = state.demoToken ? t("staff.token_demo") : t("staff.token_set");
    if (!state.token) showError("staff-error", t("staff.need_token"));
  }

  function wireStaff() {
    var kept = sessionStore("staffToken");
    if (typeof kept === "string" && kept) state.token = kept;
    $("staff-token-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = $("staff-token");
      var typed = input.value.trim();
      input.value = ""; // never shown back, not even as dots
      if (!typed) {
        showError("staff-error", t("staff.need_token"));
        return;
      }
      state.token = typed;
      sessionStore("staffToken", typed);
      showError("staff-error", "");
      showTokenState();
      if (state.staffDateTouched) loadAppointments();
      else openStaffDesk();
    });
    $("staff-token-forget").addEventListener("click", function () {
      forgetToken();
      $("staff-rows").textContent = "";
      $("staff-token").focus();
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
      fillDepartments("staff-department", $("staff-hospital").value);
      if (state.staffDateTouched) loadAppointments();
      else openStaffDesk();
    });
    $("staff-department").addEventListener("change", loadAppointments);
    $("staff-rows").addEventListener("click", function (event) {
      var button = event.target.closest(".checkin");
      if (button && !button.disabled) checkIn(button);
    });
  }

  function wireLanguage() {
    state.lang = pageLang();
    LANGS.forEach(function (lang) {
      $("lang-" + lang).addEventListener("click", function () {
        state.lang = lang;
        store("lang", lang);
        applyLanguage();
        if (state.now) showNow(state.now);
        state.hospitalsSignature = "";
        fillHospitals(state.hospitals);
        showTokenState();
        loadAppointments();
        CHANNELS.forEach(renderLog);
        state.outbox.signature = ""; // drawn again with the kinds and channels in this language
        onWatchChanged();
        pollOutbox(true);
      });
    });
    applyLanguage();
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
    var shown = TEXTS["bstatus." + status] ? t("bstatus." + status) : status || "…";
    $("broadcast-status").textContent =
      t("broadcast.progress", { status: shown, total: total, sent: sent, failed: failed }) +
      (progress.id ? " · #" + progress.id : "");
  }

  function followBroadcast(id, startedAt) {
    return api("GET", API.broadcasts + "/" + encodeURIComponent(id), undefined, { staff: true }).then(
      function (progress) {
        showProgress(progress);
        if (progress.status === "done" || progress.status === "failed") {
          if (progress.status === "failed") showError("broadcast-error", t("broadcast.run_failed", { id: id }));
          return progress;
        }
        if (Date.now() - startedAt > BROADCAST_GIVE_UP_MS) {
          showError("broadcast-error", t("broadcast.gave_up", { id: id }));
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
      fillDepartments("broadcast-department", $("broadcast-hospital").value);
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
        showError("broadcast-error", t("broadcast.required"));
        return;
      }
      if (body.text.length > BROADCAST_MAX) {
        showError("broadcast-error", t("broadcast.too_long", { n: body.text.length, max: BROADCAST_MAX }));
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
          if (!created || created.id === undefined || created.id === null) throw new ApiError(t("broadcast.no_id"), 0, "no_id");
          showProgress({ id: created.id, status: "queued", total: 0, sent: 0, failed: 0 });
          return followBroadcast(String(created.id), Date.now());
        })
        .catch(function (err) {
          box.setAttribute("data-status", "error");
          showError("broadcast-error", staffFailure(err, function () {
            if (err.status === 400) return t("broadcast.rejected");
            return t("broadcast.failed", { why: errorText(err) });
          }));
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
    wireLanguage();
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

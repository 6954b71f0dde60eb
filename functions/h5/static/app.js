// The hosted H5 page. CSP-safe: no inline code, no element.style, no storage, no secret in a URL.
(function () {
  'use strict';

  var doc = document;
  var $ = function (id) { return doc.getElementById(id); };
  var meta = doc.querySelector('meta[name="h5-base"]');
  var BASE = (meta ? meta.getAttribute('content') || '' : '').replace(/\/+$/, '');

  var NET_ERROR = '网络异常，请稍后重试';
  var SCREENS = ['loading', 'consent', 'form', 'sms', 'image', 'query', 'processing', 'waiting', 'done', 'link-error'];
  var STEP_SCREEN = {
    form: 'form', sms: 'sms', image: 'image', query_password: 'query',
    processing: 'processing', waiting: 'waiting', done: 'done'
  };
  var PLAIN_ASK = { sms: '90001', image: '90002', query_password: '90036' };
  var FIELD_CODES = { '90004': 'name', '90005': 'identity_card', '90012': 'mobile_no', '90006': 'password' };
  var SCREEN_INPUT = { sms: 'sms-code', image: 'captcha-code', query: 'query-password' };
  var CODE_INPUTS = ['sms-code', 'captcha-code', 'query-password'];
  var DONE_TITLES = { SUCCESS: '授权完成', DEFEAT: '数据获取失败' };
  var DONE_TEXTS = {
    SUCCESS: '您已完成运营商授权，请返回应用继续操作',
    DEFEAT: '您已完成授权，但未能获取到运营商数据',
    OTHER: '本次授权未能完成，请返回应用重新发起'
  };

  var env = null;            // the last state envelope
  var current = 'loading';   // the visible screen
  var consentAccepted = false;
  var busy = false;
  var token = null;          // the link token, in memory only until the server has answered
  var typedMobile = '';
  var pollTimer = 0;
  var pollFailures = 0;
  var countdownTimer = 0;
  var resendDeadline = 0;
  var resendLeft = null;
  var numberTimer = 0;
  var numberSeq = 0;

  // helpers

  function str(v) { return v === null || v === undefined ? '' : String(v); }
  function dataOf(e) { return (e && e.data && typeof e.data === 'object') ? e.data : {}; }
  function setText(el, text) { if (el.textContent !== text) { el.textContent = text; } }
  function each(sel, fn) { Array.prototype.forEach.call(doc.querySelectorAll(sel), fn); }
  function maskMobile(m) { return /^\d{11}$/.test(m) ? m.slice(0, 3) + '****' + m.slice(7) : ''; }

  function request(method, path, body) {
    var opts = {
      method: method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Accept': 'application/json' }
    };
    if (method === 'POST') {
      opts.headers['Content-Type'] = 'application/json';
      opts.headers['X-CarrierAuth-H5'] = '1';
      opts.body = JSON.stringify(body || {});
    }
    return fetch(BASE + path, opts).then(function (res) {
      return res.text().then(function (text) {
        var e = null;
        try { e = JSON.parse(text); } catch (ignore) { e = null; }
        return { status: res.status, env: (e && typeof e === 'object') ? e : null };
      }, function () { return { status: res.status, env: null }; });
    }, function () { return { status: 0, env: null }; });
  }

  // message, field errors

  function showMessage(text, detail) {
    var box = $('message');
    if (text && box.textContent === text + (detail && detail !== text ? detail : '')) { return; }  // no re-announcing
    box.textContent = '';
    if (!text && !detail) { return; }
    var main = doc.createElement('span');
    main.textContent = text || detail;
    box.appendChild(main);
    if (text && detail && detail !== text) {
      var extra = doc.createElement('span');
      extra.className = 'alert-detail';
      extra.textContent = detail;
      box.appendChild(extra);
    }
    if (box.scrollIntoView) { box.scrollIntoView({ block: 'nearest' }); }
  }
  function clearMessage() { $('message').textContent = ''; }

  function describe(input, errId) {
    var ids = (input.getAttribute('data-hint') || '').split(' ').filter(Boolean);
    if (errId) { ids.push(errId); }
    if (ids.length) { input.setAttribute('aria-describedby', ids.join(' ')); } else { input.removeAttribute('aria-describedby'); }
  }
  function setFieldError(id, text) {
    var input = $(id), err = $(id + '-error');
    if (!input || !err) { return; }
    if (!input.hasAttribute('data-hint')) { input.setAttribute('data-hint', input.getAttribute('aria-describedby') || ''); }
    err.textContent = text;
    err.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    describe(input, err.id);
  }
  function clearFieldError(id) {
    var input = $(id), err = $(id + '-error');
    if (!input || !err || err.hidden) { return; }
    err.hidden = true;
    err.textContent = '';
    input.removeAttribute('aria-invalid');
    describe(input, '');
  }
  function clearFieldErrors(ids) { ids.forEach(clearFieldError); }

  // busy state

  function setBusy(on) {
    busy = on;
    $('main').setAttribute('aria-busy', on ? 'true' : 'false');
    each('main button', function (b) {
      if (b.id !== 'password-toggle') { b.disabled = on; }
      if (!on) { b.classList.remove('is-loading'); }
    });
    if (!on) { updateResend(); updateCaptchaRefresh(); }
  }

  // screens

  function stopTimers() {
    clearTimeout(pollTimer); pollTimer = 0;
    clearInterval(countdownTimer); countdownTimer = 0;
  }

  function show(screen) {
    var changed = screen !== current;
    SCREENS.forEach(function (id) { $(id).hidden = id !== screen; });
    if (changed) {
      current = screen;
      clearMessage();
      CODE_INPUTS.forEach(function (id) { $(id).value = ''; });
      clearFieldErrors(CODE_INPUTS);
      if (window.scrollTo) { window.scrollTo(0, 0); }
    }
    return changed;
  }

  function focusHeading(screen) {
    var h = $(screen === 'done' ? 'done-title' : screen + '-title');
    if (h) { h.focus(); }
  }

  function focusLost() {
    var a = doc.activeElement;
    return !a || a === doc.body || a.disabled || a.offsetParent === null;
  }

  function setTenant(name) {
    var t = $('header-tenant');
    setText(t, name);
    t.hidden = !name;
  }

  function linkError(message) {
    stopTimers();
    token = null;
    message = str(message) || '链接无效';
    setText($('link-error-message'), message);
    $('link-error-hint').hidden = message.indexOf('重新发起授权') >= 0;
    show('link-error');
    focusHeading('link-error');
  }

  // the answer to any request

  function outcome(r, ctx) {
    var e = r.env, s = r.status, d = dataOf(e);
    if (s === 401) { linkError(e && e.message); return; }
    if (ctx === 'init' && s >= 400 && s < 500) { linkError(e && e.message); return; }
    if (e && d.step && (s === 200 || s === 409 || (s >= 400 && s < 500))) { render(e); return; }
    if (s === 429) { showMessage('操作过于频繁，请稍后重试'); return; }
    if (e && e.code && e.message && s >= 400 && s < 500) { showMessage(str(e.message)); return; }
    if (e && s === 200) { showMessage(e.message || NET_ERROR, d.next_action); return; }
    showMessage(NET_ERROR);
  }

  function render(e) {
    var d = dataOf(e);
    var step = str(d.step);
    var code = str(e.code), gc = str(d.guide_code);
    env = e;
    stopTimers();
    setTenant(str(d.tenant_name));

    var screen = STEP_SCREEN[step] || 'processing';
    if (screen === 'form' && !consentAccepted) { screen = 'consent'; }
    var changed = show(screen);
    FILL[screen](d, e);

    clearMessage();
    var field = (screen === 'form' && code === '104') ? FIELD_CODES[gc] : null;
    if (field && $(field + '-field') && $(field + '-field').hidden) { field = null; }  // a prefilled field
    var hasMessage = false;
    if (field) {
      setFieldError(field, str(d.guide_message) || str(e.message));
    } else if (screen !== 'consent' && screen !== 'done') {
      if (code === '104' && gc && gc !== PLAIN_ASK[step]) {
        showMessage(str(d.guide_message) || str(e.message), str(d.next_action));
        hasMessage = true;
      } else if (code === '103') {
        showMessage(str(e.message) || str(d.guide_message) || NET_ERROR, str(d.next_action));
        hasMessage = true;
      }
    }

    if (changed) {
      focusHeading(screen);
    } else if (field) {
      $(field).focus();
    } else if (hasMessage || focusLost()) {
      var input = SCREEN_INPUT[screen] ? $(SCREEN_INPUT[screen]) : null;
      if (input) { input.focus(); } else if (focusLost()) { focusHeading(screen); }
    }

    if (screen === 'processing' || screen === 'waiting') { schedulePoll(d.poll_after_ms); }
  }

  // per-screen content

  var FILL = {
    loading: function () {},
    'link-error': function () {},
    consent: function (d) {
      var a = d.agreement || {};
      var tenant = str(d.tenant_name) || '本应用';
      each('.js-tenant', function (el) { setText(el, tenant); });
      each('.js-provider', function (el) { setText(el, d.provider_name ? '数据服务商' + d.provider_name : '数据服务商'); });
      each('.js-retention', function (el) { setText(el, str(a.retention_days) || '30'); });
      setText($('agreement-version'), str(a.version) || '—');
    },
    form: function (d) {
      var pre = d.prefill || {};
      var any = false;
      ['name', 'identity_card', 'mobile_no'].forEach(function (f) {
        var fixed = !!pre[f];
        any = any || fixed;
        $(f + '-field').hidden = fixed;
        $('prefill-' + f).hidden = !fixed;
        var value = str(pre[f]);
        if (f === 'mobile_no' && fixed) {
          var isp = [str(d.isp), str(d.region)].filter(Boolean).join(' · ');
          if (isp) { value += '（' + isp + '）'; }
        }
        setText($('prefill-' + f + '-value'), value);
        if (fixed) { clearFieldError(f); }
      });
      $('prefill').hidden = !any;
      $('password').value = '';
      setPasswordVisible(false);
    },
    sms: function (d) {
      var pre = d.prefill || {};
      var ask = str(d.guide_code) === PLAIN_ASK.sms && d.guide_message ? str(d.guide_message) : '请输入短信验证码';
      setText($('sms-guide'), ask);
      var masked = pre.mobile_no ? str(pre.mobile_no) : maskMobile(typedMobile);
      var line = masked ? '手机号：' + masked : '';
      var isp = [str(d.isp), str(d.region)].filter(Boolean).join(' · ');
      if (line && isp) { line += '（' + isp + '）'; }
      setText($('sms-mobile'), line);
      $('sms-mobile').hidden = !line;
      setupResend(d.resend);
    },
    image: function (d) {
      var ask = str(d.guide_code) === PLAIN_ASK.image && d.guide_message ? str(d.guide_message) : '请输入图片中的字符';
      setText($('image-guide'), ask);
      var img = $('captcha-img');
      var src = str(d.auth_code).replace(/\s+/g, '');
      if (src && src.indexOf('data:') !== 0) { src = 'data:image/png;base64,' + src; }
      if (src && /^data:image\//.test(src)) {
        if (img.getAttribute('src') !== src) { img.setAttribute('src', src); }
      } else {
        img.removeAttribute('src');
      }
      setupResend(d.resend);
    },
    query: function (d) {
      var ask = str(d.guide_code) === PLAIN_ASK.query_password && d.guide_message ? str(d.guide_message) : '请输入查询密码';
      setText($('query-guide'), ask);
    },
    processing: function () {},
    waiting: function () {},
    done: function (d, e) {
      var result = str(d.result).toUpperCase();
      var ok = result === 'SUCCESS';
      setText($('done-title'), DONE_TITLES[result] || '授权未完成');
      var icon = $('done-icon');
      icon.classList.toggle('is-ok', ok);
      icon.classList.toggle('is-fail', !ok && result !== 'DEFEAT');
      // a 105's message is meant for the app ("…通过回调通知APP"), not for the user
      var text = str(d.guide_message) || (str(e.code) === '105' ? '' : str(e.message));
      setText($('done-message'), text || DONE_TEXTS[result] || DONE_TEXTS.OTHER);
      var next = str(d.next_action);
      setText($('done-next-action'), next);
      $('done-next-action').hidden = !next;
      var url = safeUrl(d.return_url);
      $('return').hidden = !url;
      $('done-close-hint').hidden = !!url;
    }
  };

  function safeUrl(u) {
    u = str(u).trim();
    if (!u || /^(javascript|data|vbscript|blob|file):/i.test(u.replace(/[\s\u0000-\u001f]/g, ''))) { return ''; }
    return u;
  }

  // resend / countdown

  function setupResend(r) {
    r = r || {};
    resendLeft = (r.left === null || r.left === undefined || r.left === '') ? null : Number(r.left);
    var wait = Math.max(0, Math.ceil(Number(r.wait_seconds) || 0));
    resendDeadline = wait > 0 ? Date.now() + wait * 1000 : 0;
    clearInterval(countdownTimer); countdownTimer = 0;
    if (resendDeadline && resendLeft !== 0 && current === 'sms') {
      countdownTimer = setInterval(updateResend, 1000);
    }
    updateResend();
    updateCaptchaRefresh();
  }

  function updateResend() {
    var b = $('resend'), text = '重新发送', off = busy;
    if (resendLeft !== null && resendLeft <= 0) {
      text = '已达重发上限'; off = true;
    } else if (resendDeadline) {
      var left = Math.ceil((resendDeadline - Date.now()) / 1000);
      if (left > 0) {
        text = '重新发送（' + left + 's）'; off = true;
      } else {
        resendDeadline = 0;
        clearInterval(countdownTimer); countdownTimer = 0;
      }
    }
    setText(b, text);
    b.disabled = off;
  }

  function updateCaptchaRefresh() {
    $('captcha-refresh').disabled = busy || (resendLeft !== null && resendLeft <= 0);
  }

  // polling

  function schedulePoll(ms) {
    ms = Number(ms);
    if (!(ms >= 500)) { ms = 2000; }
    if (pollFailures) { ms = Math.max(ms, Math.min(30000, 2000 * Math.pow(2, pollFailures))); }
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, Math.min(ms, 60000));
  }

  function polling() { return current === 'processing' || current === 'waiting'; }

  function poll() {
    pollTimer = 0;
    if (!polling()) { return; }
    request('GET', '/api/state').then(function (r) {
      if (!polling() || pollTimer) { return; }
      if (r.status === 401 || (r.env && dataOf(r.env).step)) {
        pollFailures = 0;
        outcome(r, 'poll');
      } else {
        pollFailures += 1;
        showMessage(NET_ERROR);
        schedulePoll(dataOf(env).poll_after_ms);
      }
    });
  }

  // user actions

  function act(method, path, body, button) {
    if (busy) { return Promise.resolve(); }
    var before = doc.activeElement;
    clearMessage();
    if (button) { button.classList.add('is-loading'); }
    setBusy(true);
    return request(method, path, body).then(function (r) {
      setBusy(false);
      if (focusLost() && before && before.focus && !before.disabled && before.offsetParent !== null) { before.focus(); }
      outcome(r, 'action');
    });
  }

  function onConsent(ev) {
    ev.preventDefault();
    var box = $('consent-check');
    if (!box.checked) {
      setFieldError('consent-check', '请先阅读协议并勾选同意');
      box.focus();
      return;
    }
    consentAccepted = true;
    if (env) { render(env); }
  }

  function setPasswordVisible(on) {
    $('password').type = on ? 'text' : 'password';
    var t = $('password-toggle');
    t.setAttribute('aria-pressed', on ? 'true' : 'false');
    setText(t, on ? '隐藏' : '显示');
  }

  function onStart(ev) {
    ev.preventDefault();
    if (busy || !env) { return; }
    var d = dataOf(env), pre = d.prefill || {};
    var body = { agreement_version: (d.agreement || {}).version };
    var errors = [];
    clearMessage();
    clearFieldErrors(['name', 'identity_card', 'mobile_no', 'password']);

    if (!pre.name) {
      var name = $('name').value.replace(/\s+/g, ' ').trim();
      if (!name) { errors.push(['name', '请输入姓名']); }
      body.name = name;
    }
    if (!pre.identity_card) {
      var id = $('identity_card').value.replace(/\s+/g, '').toUpperCase();
      if (!id) { errors.push(['identity_card', '请输入身份证号']); }
      else if (!/^(\d{17}[\dX]|\d{15})$/.test(id)) { errors.push(['identity_card', '请输入正确的18位身份证号']); }
      body.identity_card = id;
    }
    if (!pre.mobile_no) {
      var mobile = $('mobile_no').value.replace(/\D/g, '');
      if (!mobile) { errors.push(['mobile_no', '请输入手机号']); }
      else if (!/^1\d{10}$/.test(mobile)) { errors.push(['mobile_no', '请输入正确的11位手机号']); }
      body.mobile_no = mobile;
    }
    var pw = $('password');
    if (!pw.value) { errors.push(['password', '请输入服务密码']); }

    if (errors.length) {
      errors.forEach(function (x) { setFieldError(x[0], x[1]); });
      $(errors[0][0]).focus();
      return;
    }
    if (body.mobile_no) { typedMobile = body.mobile_no; }
    body.password = pw.value;
    pw.value = '';
    setPasswordVisible(false);
    act('POST', '/api/start', body, $('start-submit'));
    body.password = '';
    body = null;
  }

  function submitCode(inputId, buttonId, emptyText) {
    return function (ev) {
      ev.preventDefault();
      if (busy || !env) { return; }
      var input = $(inputId);
      var value = input.value.trim();
      clearFieldError(inputId);
      if (!value) { setFieldError(inputId, emptyText); input.focus(); return; }
      input.value = '';
      act('POST', '/api/code', { trace_id: env.trace_id, auth_code: value }, $(buttonId));
      value = '';
    };
  }

  function onResend(ev) {
    if (busy || !env) { return; }
    act('POST', '/api/resend', { trace_id: env.trace_id }, ev.currentTarget);
  }

  function onReturn() {
    var url = safeUrl(dataOf(env).return_url);
    if (url) { $('return').disabled = true; window.location.replace(url); }
  }

  // mobile number lookup

  function setNumberInfo(text, warn) {
    var el = $('number-info');
    el.classList.toggle('is-warn', !!warn);
    setText(el, text);
  }

  function onMobileInput() {
    var el = $('mobile_no');
    if (/\D/.test(el.value)) { el.value = el.value.replace(/\D/g, ''); }
    clearFieldError('mobile_no');
    clearTimeout(numberTimer);
    numberSeq += 1;
    var v = el.value, seq = numberSeq;
    if (v.length !== 11) { setNumberInfo('', false); return; }
    numberTimer = setTimeout(function () {
      request('POST', '/api/number', { mobile_no: v }).then(function (r) {
        if (seq !== numberSeq || el.value !== v) { return; }
        if (r.status === 401) { linkError(r.env && r.env.message); return; }
        var d = dataOf(r.env);
        if (r.status !== 200 || !r.env) { setNumberInfo('', false); return; }
        if (d.valid) {
          setNumberInfo([str(d.isp), str(d.region)].filter(Boolean).join(' · '), false);
        } else {
          setNumberInfo(str(d.guide_message) || str(r.env.message) || '手机号无效，请检查', true);
        }
      });
    }, 300);
  }

  function onMobilePaste(ev) {
    var el = ev.currentTarget;
    var text = ev.clipboardData && ev.clipboardData.getData ? ev.clipboardData.getData('text') : '';
    if (!text || !/\D/.test(text)) { return; }
    ev.preventDefault();
    var digits = text.replace(/\D/g, '').replace(/^86(?=1\d{10}$)/, '');
    el.setRangeText(digits, el.selectionStart, el.selectionEnd, 'end');
    if (el.value.length > 11) { el.value = el.value.slice(0, 11); }
    onMobileInput();
  }

  // start

  function readToken() {
    var hash = window.location.hash.replace(/^#/, '');
    if (!hash) { return null; }
    var found = null;
    hash.split('&').forEach(function (part) {
      if (found === null && part.indexOf('t=') === 0) {
        try { found = decodeURIComponent(part.slice(2)); } catch (ignore) { found = part.slice(2); }
      }
    });
    return found;
  }

  function dropFragment() {
    if (window.location.hash && window.history && window.history.replaceState) {
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
    }
  }

  function load() {
    $('retry').hidden = true;
    $('retry').disabled = true;
    var call = token ? request('POST', '/api/session', { token: token }) : request('GET', '/api/state');
    call.then(function (r) {
      $('retry').disabled = false;
      if (r.status === 0 || r.status >= 500 || !r.env) {
        if (r.status === 401 || r.status === 404 || r.status === 400 || r.status === 410) { linkError(''); return; }
        showMessage(NET_ERROR);
        $('retry').hidden = false;
        return;
      }
      token = null;
      if (r.status === 200 && !dataOf(r.env).step) { linkError(r.env.message); return; }
      outcome(r, 'init');
    });
  }

  function init() {
    var t = readToken();
    dropFragment();
    if (t !== null) {
      if (!t) { linkError('链接无效'); return; }
      token = t;
    }

    ['name', 'identity_card', 'mobile_no', 'password', 'sms-code', 'captcha-code', 'query-password'].forEach(function (id) {
      var input = $(id);
      input.setAttribute('data-hint', input.getAttribute('aria-describedby') || '');
      if (id !== 'mobile_no') { input.addEventListener('input', function () { clearFieldError(id); }); }
    });

    $('consent-form').addEventListener('submit', onConsent);
    $('consent-check').addEventListener('change', function () { clearFieldError('consent-check'); });
    $('start-form').addEventListener('submit', onStart);
    $('sms-form').addEventListener('submit', submitCode('sms-code', 'sms-submit', '请输入短信验证码'));
    $('image-form').addEventListener('submit', submitCode('captcha-code', 'captcha-submit', '请输入图片验证码'));
    $('query-form').addEventListener('submit', submitCode('query-password', 'query-submit', '请输入查询密码'));
    $('resend').addEventListener('click', onResend);
    $('captcha-refresh').addEventListener('click', onResend);
    $('return').addEventListener('click', onReturn);
    $('retry').addEventListener('click', function () { clearMessage(); load(); });
    $('password-toggle').addEventListener('click', function () {
      setPasswordVisible($('password').type === 'password');
    });
    $('mobile_no').addEventListener('input', onMobileInput);
    $('mobile_no').addEventListener('paste', onMobilePaste);

    window.addEventListener('pageshow', function (ev) {
      if (!ev.persisted) { return; }
      $('password').value = '';
      CODE_INPUTS.forEach(function (id) { $(id).value = ''; });
      if (current !== 'link-error' && current !== 'loading') {
        request('GET', '/api/state').then(function (r) { outcome(r, 'poll'); });
      }
    });

    load();
  }

  if (doc.readyState === 'loading') { doc.addEventListener('DOMContentLoaded', init); } else { init(); }
}());

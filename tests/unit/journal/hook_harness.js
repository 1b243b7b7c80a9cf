// Runs resources/js/journal_hook.js in fresh Node vm contexts that imitate a browser window and
// checks its contract. Prints one JSON object {scenario: "ok" | "failure message"}.
'use strict';
const vm = require('vm');
const fs = require('fs');
const path = require('path');

const HOOK = fs.readFileSync(
  path.join(__dirname, '..', '..', '..', 'resources', 'js', 'journal_hook.js'), 'utf8');
const PLAYER = 'https://moodle.test/mod/scorm/player.php?a=1&scoid=2';

// Browser-ish globals: location, document.baseURI, URL, Storage/localStorage, XMLHttpRequest, fetch.
const PRELUDE = `
  globalThis.window = globalThis;
  window.location = { href: ${JSON.stringify(PLAYER)} };
  window.document = { baseURI: ${JSON.stringify(PLAYER)} };
  window.got = [];
  function Storage() { this.data = {}; }
  Storage.prototype.setItem = function (k, v) { this.data[k] = String(v); return 'native-result'; };
  window.Storage = Storage;
  window.localStorage = new Storage();
  function XMLHttpRequest() { this.listeners = {}; this.status = 0; this.responseText = ''; this.responseType = ''; }
  XMLHttpRequest.prototype.open = function (m, u, a) { this.m = m; this.u = u; this.a = a !== false; };
  XMLHttpRequest.prototype.addEventListener = function (n, f) { (this.listeners[n] = this.listeners[n] || []).push(f); };
  XMLHttpRequest.prototype.send = function (body) {
    window.sentBodies = (window.sentBodies || []).concat([body]);
    if (window.network === 'down') { throw new Error('NetworkError'); }
    this.status = 200; this.responseText = 'true\\n0';
    if (this.a) { var self = this; window.pendingAsync = function () { (self.listeners.loadend || []).forEach(function (f) { f(); }); }; }
    return undefined;
  };
  window.XMLHttpRequest = XMLHttpRequest;
  window.fetch = function (input) { window.fetched = (window.fetched || 0) + 1; return 'promise'; };
`;

function freshWindow(options) {
  const ctx = vm.createContext({ URL: URL, Uint32Array: Uint32Array, Proxy: Proxy, Reflect: Reflect });
  vm.runInContext(PRELUDE, ctx);
  if (!options || options.bridge !== false) {
    vm.runInContext('window.__lockdownRecord = function (e) { got.push(JSON.parse(JSON.stringify(e))); };', ctx);
  }
  vm.runInContext(HOOK, ctx);
  return ctx;
}

const MOODLE_2004 = `
  var datamodelurl = "https://moodle.test/mod/scorm/datamodel.php";
  var datamodelurlparams = "id=5&a=1&sesskey=sk1&attempt=1&scoid=2";
  function SCORMapi1_3() {
    var self = this;
    this.store = {};
    this.SetValue = function (k, v) {
      window.recordedBeforeOriginal = got.length > 0 && got[got.length - 1].value === String(v);
      if (this !== self) { throw new Error('this not preserved'); }
      if (k === 'explode') { throw new RangeError('lms exploded'); }
      if (k === 'cmi.completion_status' && v === 'bogus') { return 'false'; }
      self.store[k] = String(v); return 'true';
    };
    this.Commit = function (p) { return p === '' ? 'true' : 'false'; };
    this.GetValue = function (k) { return self.store[k] || ''; };
    this.Initialize = function () { return 'true'; };
  }
  var API_1484_11 = new SCORMapi1_3();
`;

const scenarios = {
  moodle_2004_set_is_recorded_before_the_original_with_context(ctx) {
    vm.runInContext(MOODLE_2004, ctx);
    const result = vm.runInContext('API_1484_11.SetValue("cmi.location", 3)', ctx);
    assert(result === 'true', 'return value changed: ' + result);
    assert(vm.runInContext('recordedBeforeOriginal', ctx) === true, 'not recorded before the original ran');
    const got = vm.runInContext('got', ctx);
    assert(got.length === 1, 'entries: ' + JSON.stringify(got));
    const e = got[0];
    assert(e.type === 'set' && e.api === 'scorm2004' && e.key === 'cmi.location' && e.value === '3', JSON.stringify(e));
    assert(e.ctx && e.ctx.endpoint === 'https://moodle.test/mod/scorm/datamodel.php', 'ctx missing');
    assert(e.ctx.params.indexOf('sesskey=sk1') >= 0, 'params missing');
    assert(e.url === PLAYER && typeof e.page === 'string' && e.page.length > 5 && e.seq === 1, 'base fields');
    assert(typeof e.time === 'number', 'time');
  },
  identity_is_kept(ctx) {
    vm.runInContext(MOODLE_2004, ctx);
    assert(vm.runInContext('window.API_1484_11 === API_1484_11 && API_1484_11 instanceof SCORMapi1_3', ctx), 'identity');
    assert(vm.runInContext('Object.keys(API_1484_11).indexOf("SetValue") >= 0', ctx), 'enumerability changed');
  },
  rejected_value_is_withdrawn_and_false_passed_through(ctx) {
    vm.runInContext(MOODLE_2004, ctx);
    const result = vm.runInContext('API_1484_11.SetValue("cmi.completion_status", "bogus")', ctx);
    assert(result === 'false', 'return value changed');
    const got = vm.runInContext('got', ctx);
    assert(got.length === 2 && got[1].type === 'rejected' && got[1].ref === got[0].seq, JSON.stringify(got));
  },
  lms_exception_passes_through_unchanged(ctx) {
    vm.runInContext(MOODLE_2004, ctx);
    const outcome = vm.runInContext(
      'try { API_1484_11.SetValue("explode", "x"); "no throw" } catch (e) { e instanceof RangeError && e.message }', ctx);
    assert(outcome === 'lms exploded', 'exception changed: ' + outcome);
    const got = vm.runInContext('got', ctx);
    assert(got[got.length - 1].type === 'rejected', 'a value the LMS threw on must be withdrawn');
  },
  commit_and_first_get_are_reported(ctx) {
    vm.runInContext(MOODLE_2004, ctx);
    vm.runInContext('API_1484_11.GetValue("cmi.suspend_data"); API_1484_11.GetValue("cmi.suspend_data");', ctx);
    vm.runInContext('API_1484_11.SetValue("cmi.location", "p"); API_1484_11.GetValue("cmi.location");', ctx);
    assert(vm.runInContext('API_1484_11.Commit("")', ctx) === 'true', 'commit result changed');
    const types = vm.runInContext('got', ctx).map((e) => e.type + ':' + (e.key || ''));
    assert(JSON.stringify(types) === JSON.stringify(['get:cmi.suspend_data', 'set:cmi.location', 'commit:']),
      JSON.stringify(types));
  },
  entries_are_queued_until_the_bridge_exists() {
    const ctx = freshWindow({ bridge: false });
    vm.runInContext(MOODLE_2004, ctx);
    vm.runInContext('API_1484_11.SetValue("cmi.a", "1"); API_1484_11.SetValue("cmi.b", "2");', ctx);
    assert(vm.runInContext('got.length', ctx) === 0, 'delivered without a bridge');
    vm.runInContext('window.__lockdownRecord = function (e) { got.push(e); };', ctx);
    vm.runInContext('API_1484_11.SetValue("cmi.c", "3")', ctx);
    const keys = vm.runInContext('got.map(function (e) { return e.key; })', ctx);
    assert(JSON.stringify(keys) === '["cmi.a","cmi.b","cmi.c"]', 'order: ' + JSON.stringify(keys));
  },
  failing_bridge_never_hurts_the_page(ctx) {
    vm.runInContext('window.__lockdownRecord = function () { throw new Error("bridge down"); };', ctx);
    vm.runInContext(MOODLE_2004, ctx);
    assert(vm.runInContext('API_1484_11.SetValue("cmi.location", "x")', ctx) === 'true', 'page affected');
  },
  scorm_12_api_assigned_later(ctx) {
    vm.runInContext(`
      window.API = { LMSSetValue: function (k, v) { return 'true'; }, LMSCommit: function () { return 'true'; },
                     LMSGetValue: function () { return 'old'; } };
      API.LMSGetValue('cmi.core.lesson_location');
      API.LMSSetValue('cmi.core.lesson_location', 'new');
      API.LMSGetValue('cmi.core.lesson_location');
      API.LMSCommit('');`, ctx);
    const got = vm.runInContext('got', ctx);
    const summary = got.map((e) => [e.type, e.api, e.key || '', e.value || ''].join(':'));
    assert(JSON.stringify(summary) === JSON.stringify([
      'get:scorm12:cmi.core.lesson_location:old', 'set:scorm12:cmi.core.lesson_location:new', 'commit:scorm12::']),
      JSON.stringify(summary));
  },
  frozen_api_is_wrapped_through_a_proxy(ctx) {
    vm.runInContext(`
      window.API_1484_11 = Object.freeze({ SetValue: function (k, v) { return 'stored ' + v; },
                                           Commit: function () { return 'true'; }, GetValue: function () { return ''; } });`, ctx);
    assert(vm.runInContext('API_1484_11.SetValue("cmi.x", "9")', ctx) === 'stored 9', 'result changed');
    assert(vm.runInContext('got.length', ctx) === 1, 'not recorded');
    assert(vm.runInContext('API_1484_11.Initialize === undefined && typeof API_1484_11.GetValue', ctx) === 'function',
      'other members must still be reachable');
  },
  numbas_storage_is_mirrored_before_the_write(ctx) {
    vm.runInContext(`
      window.order = [];
      var real = Storage.prototype.setItem;
      var result = localStorage.setItem('numbas-lti-attempt-12-scorm-data', '{"sent":{}}');
      localStorage.setItem('unrelated', 'x');`, ctx);
    assert(vm.runInContext('result', ctx) === 'native-result', 'setItem result changed');
    const got = vm.runInContext('got', ctx);
    assert(got.length === 1 && got[0].type === 'storage' && got[0].key === 'numbas-lti-attempt-12-scorm-data', JSON.stringify(got));
    assert(vm.runInContext('localStorage.data["unrelated"]', ctx) === 'x', 'write lost');
  },
  moodle_sync_post_and_result_are_reported(ctx) {
    vm.runInContext(`
      var x = new XMLHttpRequest();
      x.open('POST', '/mod/scorm/datamodel.php', false);
      x.send('id=5&a=1&sesskey=sk1&attempt=1&scoid=2&cmi__location=p');
      var other = new XMLHttpRequest(); other.open('POST', '/lib/ajax/service.php', false); other.send('x');`, ctx);
    const got = vm.runInContext('got', ctx);
    assert(got.length === 2, JSON.stringify(got));
    assert(got[0].type === 'save-request' && got[0].endpoint === 'https://moodle.test/mod/scorm/datamodel.php', 'request');
    assert(got[1].type === 'save-result' && got[1].status === 200 && got[1].response === 'true\n0', JSON.stringify(got[1]));
    assert(got[1].body.indexOf('cmi__location=p') >= 0, 'body');
  },
  moodle_network_error_is_reported_and_rethrown(ctx) {
    vm.runInContext('window.network = "down";', ctx);
    const outcome = vm.runInContext(`
      var x = new XMLHttpRequest(); x.open('POST', '/mod/scorm/datamodel.php', false);
      try { x.send('cmi__location=p'); 'no throw' } catch (e) { e.message }`, ctx);
    assert(outcome === 'NetworkError', 'exception changed: ' + outcome);
    const got = vm.runInContext('got', ctx);
    assert(got[1].type === 'save-result' && got[1].status === 0, JSON.stringify(got));
  },
  async_post_result_comes_on_loadend(ctx) {
    vm.runInContext(`var x = new XMLHttpRequest(); x.open('POST', '/mod/scorm/datamodel.php'); x.send('a=1');`, ctx);
    assert(vm.runInContext('got.length', ctx) === 1, 'result reported too early');
    vm.runInContext('pendingAsync()', ctx);
    assert(vm.runInContext('got[1].type', ctx) === 'save-result', 'no result');
  },
  fallback_fetch_gives_the_exact_endpoint_once(ctx) {
    vm.runInContext(`
      window.location.href = 'https://numbas.test/run_attempt/7';
      window.document.baseURI = 'https://numbas.test/run_attempt/7';
      var r = fetch('/attempt/7/scorm_data_fallback?x=1', {method: 'POST'});
      fetch('/attempt/7/scorm_data_fallback?x=1'); fetch('/other');`, ctx);
    assert(vm.runInContext('r', ctx) === 'promise' && vm.runInContext('fetched', ctx) === 3, 'fetch changed');
    const got = vm.runInContext('got', ctx);
    assert(got.length === 1 && got[0].endpoint === 'https://numbas.test/attempt/7/scorm_data_fallback?x=1', JSON.stringify(got));
  },
  numbas_provider_fallback_url_is_the_context(ctx) {
    vm.runInContext(`
      window.location.href = 'https://numbas.test/run_attempt/7';
      var js_vars = { scorm_api_data: { fallback_url: '/attempt/7/scorm_data_fallback?lti=1' } };
      window.API_1484_11 = { SetValue: function () {}, Commit: function () { return true; },
                             GetValue: function () { return ''; } };
      var r = API_1484_11.SetValue('cmi.suspend_data', '{}');`, ctx);
    assert(vm.runInContext('r', ctx) === undefined, 'the provider returns nothing; neither may we');
    const got = vm.runInContext('got', ctx);
    assert(got.length === 1 && got[0].ctx.endpoint === '/attempt/7/scorm_data_fallback?lti=1' &&
      got[0].ctx.params === '', JSON.stringify(got));
  },
  injecting_twice_wraps_once(ctx) {
    vm.runInContext(HOOK, ctx);
    vm.runInContext(MOODLE_2004, ctx);
    vm.runInContext('API_1484_11.SetValue("cmi.location", "once")', ctx);
    assert(vm.runInContext('got.length', ctx) === 1, 'recorded twice');
  },
  api_object_shared_with_a_child_frame_is_not_wrapped_twice(ctx) {
    vm.runInContext(MOODLE_2004, ctx);
    const child = freshWindow({ bridge: false });
    child.parentApi = vm.runInContext('API_1484_11', ctx);
    vm.runInContext('window.API_1484_11 = parentApi; API_1484_11.SetValue("cmi.location", "x");', child);
    assert(vm.runInContext('got.length', ctx) === 1, 'parent should record exactly once');
  },
};

function assert(condition, message) {
  if (!condition) { throw new Error(message); }
}

const results = {};
for (const [name, run] of Object.entries(scenarios)) {
  try {
    run(freshWindow());
    results[name] = 'ok';
  } catch (e) {
    results[name] = String(e && e.stack || e);
  }
}
process.stdout.write(JSON.stringify(results));

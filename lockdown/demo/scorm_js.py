"""The SCORM run-time API the demo exam player defines (served as ``scorm_api.js``).

Modelled on Moodle's ``mod/scorm/datamodels/scorm_13.js`` (SCORM 2004, ``API_1484_11``),
``scorm_12.js`` (SCORM 1.2, ``API``), ``request.js`` (``DoRequest``) and ``module.js``
(``underscore``), because the app's journal hook must work against exactly this behaviour:

* values live in a JS object in the player page, seeded from the server at page load
  (Moodle's ``M.scorm_api.init(def, cmiint, ...)``);
* the player window defines Moodle's globals ``datamodelurl`` and ``datamodelurlparams``;
* ``Commit`` POSTs **synchronously** (``XMLHttpRequest`` with ``async=false``) to
  ``/mod/scorm/datamodel.php`` as ``application/x-www-form-urlencoded``:
  ``id=<cmid>&a=<scormid>&sesskey=<sesskey>&attempt=<n>&scoid=<scoid>`` followed by
  ``&cmi__interactions__0__learner_response=<encodeURIComponent(value)>`` for each changed
  element; ``true\\n0`` means stored, anything else (``false\\n101``, an HTTP status, a login
  page after a redirect) makes ``Commit`` return ``"false"`` with error 101;
* a network error makes the synchronous ``send()`` throw, and the exception leaves ``Commit``
  (Moodle does not catch it either);
* an element is marked as committed *before* the POST, so after a failed POST a later
  ``Commit`` does not send it again: Moodle's ``CollectData`` sets
  ``datamodel[element].defaultvalue = data[property]`` while building the request, and only
  elements that differ from ``defaultvalue`` are sent. This is the real-world data-loss bug
  the app's journal protects against; do not "fix" it here.

Simplification: learner responses are not validated against ``cmi.interactions.n.type``
(Moodle answers 408 without a type); ``id`` must still be set first, and in order.
"""

from __future__ import annotations

SCORM_API_JS = r"""// Demo SCORM run-time API, modelled on Moodle: see lockdown/demo/scorm_js.py.
(function (window) {
    'use strict';
    var config = window.DEMO_SCORM_CONFIG || {};
    var hasOwn = Object.prototype.hasOwnProperty;

    // Moodle module.js: underscore('cmi.interactions.N0.id') -> 'cmi__interactions__0__id'.
    function underscore(str) {
        return String(str).replace(/\.N(\d+)/g, '.$1').replace(/\./g, '__');
    }

    // Moodle request.js DoRequest: synchronous POST; a non-200 answer becomes its status code;
    // a network failure throws from send() and is deliberately not caught.
    function doRequest(url, param) {
        var request = new XMLHttpRequest();
        request.open('POST', url, false);
        request.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');
        request.send(param);
        if (request.status === 200) {
            return request.responseText;
        }
        return request.status;
    }

    // Moodle scorm_13.js declares these as page globals and StoreData reads them on every
    // Commit; lockdown's journal hook reads them too, to learn where a Commit is saved.
    window.datamodelurl = config.datamodelurl;
    window.datamodelurlparams = 'id=' + config.cmid + '&a=' + config.scormid +
        '&sesskey=' + config.sesskey + '&attempt=' + config.attempt + '&scoid=' + config.scoid;

    var text = function (max) { return new RegExp('^[\\s\\S]{0,' + max + '}$'); };
    var decimal = /^-?\d{1,5}(\.\d{1,18})?$/;
    var identifier = /^\S{1,4000}$/;

    var SCORM_2004 = {
        name: 'SCORM 2004',
        methods: ['Initialize', 'Terminate', 'GetValue', 'SetValue', 'Commit',
                  'GetLastError', 'GetErrorString', 'GetDiagnostic'],
        codes: {alreadyInitialized: '103', terminatedInitialize: '104',
                terminateBeforeInit: '112', terminateAfterTerm: '113',
                getBeforeInit: '122', getAfterTerm: '123', setBeforeInit: '132',
                setAfterTerm: '133', commitBeforeInit: '142', commitAfterTerm: '143',
                argument: '201', getFailure: '301', setFailure: '351', undefinedElement: '401',
                notInitialized: '403', readOnly: '404', writeOnly: '405', typeMismatch: '406',
                dependency: '408', general: '101'},
        strings: {
            '0': 'No error',
            '101': 'General exception',
            '103': 'Already Initialized',
            '104': 'Content Instance Terminated',
            '112': 'Termination Before Initialization',
            '113': 'Termination After Termination',
            '122': 'Retrieve Data Before Initialization',
            '123': 'Retrieve Data After Termination',
            '132': 'Store Data Before Initialization',
            '133': 'Store Data After Termination',
            '142': 'Commit Before Initialization',
            '143': 'Commit After Termination',
            '201': 'General Argument Error',
            '301': 'General Get Failure',
            '351': 'General Set Failure',
            '401': 'Undefined Data Model Element',
            '403': 'Data Model Element Value Not Initialized',
            '404': 'Data Model Element Is Read Only',
            '405': 'Data Model Element Is Write Only',
            '406': 'Data Model Element Type Mismatch',
            '408': 'Data Model Dependency Not Established'
        },
        collections: ['cmi.interactions'],
        model: {
            'cmi._version': {mod: 'r', value: '1.0'},
            'cmi.completion_status': {mod: 'rw', value: 'unknown',
                format: /^(completed|incomplete|not attempted|unknown)$/},
            'cmi.success_status': {mod: 'rw', value: 'unknown',
                format: /^(passed|failed|unknown)$/},
            'cmi.credit': {mod: 'r', value: 'credit'},
            'cmi.entry': {mod: 'r', entry: true},
            'cmi.exit': {mod: 'w', format: /^(time-out|suspend|logout|normal|)$/},
            'cmi.learner_id': {mod: 'r', learner: 'id'},
            'cmi.learner_name': {mod: 'r', learner: 'name'},
            'cmi.location': {mod: 'rw', format: text(1000)},
            'cmi.mode': {mod: 'r', value: 'normal'},
            'cmi.progress_measure': {mod: 'rw', format: decimal},
            'cmi.score.raw': {mod: 'rw', format: decimal},
            'cmi.score.min': {mod: 'rw', format: decimal},
            'cmi.score.max': {mod: 'rw', format: decimal},
            'cmi.score.scaled': {mod: 'rw', format: decimal},
            'cmi.session_time': {mod: 'w', format: /^P[0-9YMDTHS.]*$/},
            'cmi.suspend_data': {mod: 'rw', format: text(64000)},
            'cmi.total_time': {mod: 'r', value: 'PT0H0M0S'},
            'cmi.interactions._children': {mod: 'r',
                value: 'id,type,timestamp,weighting,learner_response,result,latency,description'},
            'cmi.interactions._count': {mod: 'r', count: 'cmi.interactions'},
            'cmi.interactions.n.id': {mod: 'rw', format: identifier, creates: true},
            'cmi.interactions.n.type': {mod: 'rw', format: new RegExp('^(true-false|choice|' +
                'fill-in|long-fill-in|matching|performance|sequencing|likert|numeric|other)$')},
            'cmi.interactions.n.timestamp': {mod: 'rw', format: text(64)},
            'cmi.interactions.n.weighting': {mod: 'rw', format: decimal},
            'cmi.interactions.n.learner_response': {mod: 'rw', format: text(4000)},
            'cmi.interactions.n.result': {mod: 'rw', format: text(64)},
            'cmi.interactions.n.latency': {mod: 'rw', format: text(64)},
            'cmi.interactions.n.description': {mod: 'rw', format: text(250)}
        }
    };

    var SCORM_12 = {
        name: 'SCORM 1.2',
        methods: ['LMSInitialize', 'LMSFinish', 'LMSGetValue', 'LMSSetValue', 'LMSCommit',
                  'LMSGetLastError', 'LMSGetErrorString', 'LMSGetDiagnostic'],
        codes: {alreadyInitialized: '101', terminatedInitialize: '101',
                terminateBeforeInit: '301', terminateAfterTerm: '301',
                getBeforeInit: '301', getAfterTerm: '301', setBeforeInit: '301',
                setAfterTerm: '301', commitBeforeInit: '301', commitAfterTerm: '301',
                argument: '201', getFailure: '201', setFailure: '201', undefinedElement: '401',
                notInitialized: '201', readOnly: '403', writeOnly: '404', typeMismatch: '405',
                dependency: '201', general: '101'},
        strings: {
            '0': 'No error',
            '101': 'General exception',
            '201': 'Invalid argument error',
            '202': 'Element cannot have children',
            '203': 'Element not an array - cannot have count',
            '301': 'Not initialized',
            '401': 'Not implemented error',
            '402': 'Invalid set value, element is a keyword',
            '403': 'Element is read only',
            '404': 'Element is write only',
            '405': 'Incorrect data type'
        },
        collections: ['cmi.interactions'],
        model: {
            'cmi.core.student_id': {mod: 'r', learner: 'id'},
            'cmi.core.student_name': {mod: 'r', learner: 'name'},
            'cmi.core.lesson_location': {mod: 'rw', format: text(255)},
            'cmi.core.credit': {mod: 'r', value: 'credit'},
            'cmi.core.lesson_status': {mod: 'rw', value: 'not attempted',
                format: /^(passed|completed|failed|incomplete|browsed|not attempted)$/},
            'cmi.core.entry': {mod: 'r', entry: true},
            'cmi.core.score.raw': {mod: 'rw', format: decimal},
            'cmi.core.score.min': {mod: 'rw', format: decimal},
            'cmi.core.score.max': {mod: 'rw', format: decimal},
            'cmi.core.total_time': {mod: 'r', value: '00:00:00'},
            'cmi.core.lesson_mode': {mod: 'r', value: 'normal'},
            'cmi.core.exit': {mod: 'w', format: /^(time-out|suspend|logout|)$/},
            'cmi.core.session_time': {mod: 'w', format: /^\d{2,4}:\d{2}:\d{2}(\.\d{1,2})?$/},
            'cmi.suspend_data': {mod: 'rw', format: text(4096)},
            'cmi.launch_data': {mod: 'r', value: ''},
            'cmi.interactions._children': {mod: 'r', value: 'id,objectives,time,type,' +
                'correct_responses,weighting,student_response,result,latency'},
            'cmi.interactions._count': {mod: 'r', count: 'cmi.interactions'},
            'cmi.interactions.n.id': {mod: 'w', format: /^[\u0021-\u007E]{1,255}$/, creates: true},
            'cmi.interactions.n.type': {mod: 'w', format: new RegExp('^(true-false|choice|' +
                'fill-in|matching|performance|sequencing|likert|numeric)$')},
            'cmi.interactions.n.time': {mod: 'w', format: text(64)},
            'cmi.interactions.n.weighting': {mod: 'w', format: decimal},
            'cmi.interactions.n.student_response': {mod: 'w', format: text(255)},
            'cmi.interactions.n.result': {mod: 'w', format: text(64)},
            'cmi.interactions.n.latency': {mod: 'w', format: text(64)}
        }
    };

    function Runtime(spec) {
        this.spec = spec;
        this.values = {};     // element -> value: the data held in the page (Moodle's cmi)
        this.committed = {};  // element -> value last put into a datamodel.php request
        this.state = 'new';   // 'new' -> 'running' -> 'terminated'
        this.errorCode = '0';
        this.diagnostic = '';
        var data = config.data || {};
        this.entry = 'ab-initio';
        for (var key in data) {
            if (hasOwn.call(data, key) && this.modelOf(key)) {
                this.values[key] = String(data[key]);
                this.committed[key] = String(data[key]);
                this.entry = 'resume';
            }
        }
    }

    Runtime.prototype.modelOf = function (element) {
        var model = this.spec.model;
        if (hasOwn.call(model, element)) { return model[element]; }
        var generic = String(element).replace(/\.\d+\./g, '.n.');
        return hasOwn.call(model, generic) ? model[generic] : null;
    };

    Runtime.prototype.count = function (collection) {
        var prefix = collection + '.';
        var count = 0;
        for (var key in this.values) {
            if (hasOwn.call(this.values, key) && key.indexOf(prefix) === 0) {
                var index = parseInt(key.substring(prefix.length), 10);
                if (!isNaN(index) && index + 1 > count) { count = index + 1; }
            }
        }
        return count;
    };

    Runtime.prototype.fail = function (code, diagnostic) {
        this.errorCode = code;
        this.diagnostic = diagnostic || '';
    };

    Runtime.prototype.initialize = function (param) {
        var codes = this.spec.codes;
        if (param !== '') { this.fail(codes.argument); return 'false'; }
        if (this.state === 'running') { this.fail(codes.alreadyInitialized); return 'false'; }
        if (this.state === 'terminated') { this.fail(codes.terminatedInitialize); return 'false'; }
        this.state = 'running';
        this.fail('0');
        return 'true';
    };

    Runtime.prototype.getValue = function (element) {
        var codes = this.spec.codes;
        if (this.state !== 'running') {
            this.fail(this.state === 'new' ? codes.getBeforeInit : codes.getAfterTerm);
            return '';
        }
        element = String(element);
        var model = this.modelOf(element);
        if (!model) { this.fail(codes.undefinedElement, element); return ''; }
        if (model.mod === 'w') { this.fail(codes.writeOnly, element); return ''; }
        this.fail('0');
        if (model.count) { return String(this.count(model.count)); }
        if (model.learner) {
            return String(model.learner === 'id' ? config.learner_id : config.learner_name);
        }
        if (model.entry) { return this.entry; }
        if (hasOwn.call(this.values, element)) { return this.values[element]; }
        if (hasOwn.call(model, 'value')) { return model.value; }
        this.fail(codes.notInitialized, element);
        return '';
    };

    Runtime.prototype.setValue = function (element, value) {
        var codes = this.spec.codes;
        if (this.state !== 'running') {
            this.fail(this.state === 'new' ? codes.setBeforeInit : codes.setAfterTerm);
            return 'false';
        }
        element = String(element);
        value = String(value);
        var model = this.modelOf(element);
        if (!model) { this.fail(codes.undefinedElement, element); return 'false'; }
        if (model.mod === 'r') { this.fail(codes.readOnly, element); return 'false'; }
        if (model.format && !model.format.test(value)) {
            this.fail(codes.typeMismatch, element);
            return 'false';
        }
        var collections = this.spec.collections;
        for (var i = 0; i < collections.length; i++) {
            var prefix = collections[i] + '.';
            if (element.indexOf(prefix) === 0) {
                var index = parseInt(element.substring(prefix.length), 10);
                var count = this.count(collections[i]);
                if (index > count) {
                    this.fail(codes.setFailure, 'Data Model Element Collection Set Out Of Order');
                    return 'false';
                }
                if (index === count && !model.creates) {
                    this.fail(codes.dependency, 'Set ' + prefix + index + '.id first');
                    return 'false';
                }
            }
        }
        this.values[element] = value;
        this.fail('0');
        return 'true';
    };

    // Moodle StoreData/CollectData: send every writable element whose value differs from the
    // one last sent, marking it as sent *before* the POST (see the module docstring: after a
    // failed POST it is never sent again; the app's journal is what saves the answer).
    Runtime.prototype.store = function () {
        var datastring = '';
        for (var key in this.values) {
            if (!hasOwn.call(this.values, key)) { continue; }
            var model = this.modelOf(key);
            if (!model || model.mod === 'r' || this.committed[key] === this.values[key]) {
                continue;
            }
            datastring += '&' + underscore(key) + '=' + encodeURIComponent(this.values[key]);
            this.committed[key] = this.values[key];
        }
        var result = doRequest(window.datamodelurl, window.datamodelurlparams + datastring);
        var ok = String(result).split('\n')[0] === 'true';
        if (ok) {
            this.fail('0');
        } else {
            this.fail(this.spec.codes.general, 'Failure calling the Commit remote callback: ' +
                'the server replied with HTTP Status ' + result);
        }
        return ok ? 'true' : 'false';
    };

    Runtime.prototype.commit = function (param) {
        var codes = this.spec.codes;
        if (param !== '') { this.fail(codes.argument); return 'false'; }
        if (this.state !== 'running') {
            this.fail(this.state === 'new' ? codes.commitBeforeInit : codes.commitAfterTerm);
            return 'false';
        }
        return this.store();
    };

    Runtime.prototype.terminate = function (param) {
        var codes = this.spec.codes;
        if (param !== '') { this.fail(codes.argument); return 'false'; }
        if (this.state !== 'running') {
            this.fail(this.state === 'new' ? codes.terminateBeforeInit : codes.terminateAfterTerm);
            return 'false';
        }
        var result = this.store();
        if (result === 'true') { this.state = 'terminated'; }
        return result;
    };

    function expose(spec) {
        var runtime = new Runtime(spec);
        var m = spec.methods;
        var api = {};
        var arg = function (param) { return param === undefined ? '' : String(param); };
        api[m[0]] = function (param) { return runtime.initialize(arg(param)); };
        api[m[1]] = function (param) { return runtime.terminate(arg(param)); };
        api[m[2]] = function (element) { return runtime.getValue(element); };
        api[m[3]] = function (element, value) { return runtime.setValue(element, value); };
        api[m[4]] = function (param) { return runtime.commit(arg(param)); };
        api[m[5]] = function () { return runtime.errorCode; };
        api[m[6]] = function (code) {
            var strings = spec.strings;
            return hasOwn.call(strings, String(code)) ? strings[String(code)] : '';
        };
        api[m[7]] = function (param) {
            if (runtime.diagnostic) { return runtime.diagnostic; }
            return param === undefined || param === '' ? runtime.errorCode : String(param);
        };
        api.version = spec.name;
        return api;
    }

    window.API_1484_11 = expose(SCORM_2004);
    window.API = expose(SCORM_12);
}(window));
"""

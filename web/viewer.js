// The 3D viewer: a job's GLB in three.js with orbit, zoom and pan
// (OrbitControls), a ground grid under the model, an axis gizmo (+Y up, +Z
// toward the viewer of the front image), a wireframe switch and a reset.
// Lunar Nova's GLB carries linear vertex colours (COLOR_0) and a
// non-metallic material, so the model is lit by a soft neutral set-up: a
// hemisphere light for the overall shape and a key light that follows the
// camera, which keeps the colours close to the photograph's from every side.
// Frames are drawn on demand (a change of view, a load), not continuously.

import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { ViewHelper } from 'three/addons/helpers/ViewHelper.js';

export const BACKGROUND = 0x2b3038;

function makeGrid(size, divisions) {
  return new THREE.GridHelper(size, divisions, 0x8a93a3, 0x4a515c);
}

export function createViewer(container) {
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ antialias: true, alpha: false });
  } catch {
    return null; // no WebGL: the caller says so and keeps the rest working
  }
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  renderer.outputColorSpace = THREE.SRGBColorSpace;
  renderer.setClearColor(BACKGROUND, 1);
  renderer.autoClear = false;
  const canvas = renderer.domElement;
  canvas.className = 'viewer-canvas';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', 'The 3D model');
  container.prepend(canvas);

  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(40, 1, 0.01, 100);
  camera.position.set(1.2, 0.8, 2.2);
  scene.add(camera);

  scene.add(new THREE.HemisphereLight(0xffffff, 0x8a8f99, 1.6));
  const key = new THREE.DirectionalLight(0xffffff, 1.4);
  key.position.set(0.6, 1.0, 1.0); // up and to the right of the camera
  camera.add(key);
  camera.add(key.target);
  key.target.position.set(0, 0, -1);

  let grid = makeGrid(2, 20);
  scene.add(grid);

  const controls = new OrbitControls(camera, canvas);
  controls.enableDamping = true;
  controls.dampingFactor = 0.12;
  controls.screenSpacePanning = true;
  controls.keyPanSpeed = 20;
  // With the canvas focused: arrow keys pan, Shift+arrows orbit (both from
  // OrbitControls), + and - zoom, Home resets the view.
  canvas.tabIndex = 0;
  controls.listenToKeyEvents(canvas);
  canvas.addEventListener('keydown', (e) => {
    if (e.key === '+' || e.key === '=') controls.dollyIn(0.85);
    else if (e.key === '-' || e.key === '_') controls.dollyOut(0.85);
    else if (e.key === 'Home') resetView();
    else return;
    e.preventDefault();
    requestDraw();
  });

  const gizmo = new ViewHelper(camera, canvas);
  gizmo.setLabels('X', 'Y', 'Z');
  gizmo.center = controls.target;

  const loader = new GLTFLoader();
  let model = null;
  let home = null; // {position, target} of the framing view
  let wireframe = false;
  let textured = true; // show a baked texture, when the model has one
  let loadToken = 0;
  let frame = 0;
  const clock = new THREE.Clock();

  function draw() {
    frame = 0;
    const dt = clock.getDelta();
    let again = controls.update();
    if (gizmo.animating) {
      gizmo.update(dt);
      again = true;
    }
    renderer.clear();
    renderer.render(scene, camera);
    gizmo.render(renderer);
    if (again) requestDraw();
  }

  function requestDraw() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function resize() {
    const w = Math.max(1, container.clientWidth);
    const hgt = Math.max(1, container.clientHeight);
    renderer.setSize(w, hgt, false);
    canvas.style.width = '100%';
    canvas.style.height = '100%';
    camera.aspect = w / hgt;
    camera.updateProjectionMatrix();
    requestDraw();
  }
  new ResizeObserver(resize).observe(container);
  resize();

  controls.addEventListener('change', requestDraw);
  // A click (not the end of a drag) on the gizmo turns the view to that axis.
  let down = null;
  canvas.addEventListener('pointerdown', (e) => {
    down = { x: e.clientX, y: e.clientY };
  });
  canvas.addEventListener('pointerup', (e) => {
    const moved = !down || Math.hypot(e.clientX - down.x, e.clientY - down.y) > 4;
    down = null;
    if (!moved && gizmo.handleClick(e)) {
      clock.getDelta();
      requestDraw();
    }
  });

  function disposeModel() {
    if (!model) return;
    scene.remove(model);
    model.traverse((o) => {
      if (o.geometry) o.geometry.dispose();
      const mats = Array.isArray(o.material) ? o.material : o.material ? [o.material] : [];
      for (const m of mats) m.dispose();
    });
    model = null;
  }

  // Camera at azimuth 30°, elevation 20° (the front and right side in
  // view), far enough for the bounding sphere to fill most of the view.
  function frameModel() {
    const box = new THREE.Box3().setFromObject(model);
    const sphere = box.getBoundingSphere(new THREE.Sphere());
    const r = Math.max(sphere.radius, 1e-3);
    const fov = THREE.MathUtils.degToRad(camera.fov);
    const fit = Math.min(fov, 2 * Math.atan(Math.tan(fov / 2) * camera.aspect));
    const dist = (r / Math.sin(fit / 2)) * 1.08;
    const az = THREE.MathUtils.degToRad(30);
    const el = THREE.MathUtils.degToRad(20);
    const dir = new THREE.Vector3(Math.sin(az) * Math.cos(el), Math.sin(el), Math.cos(az) * Math.cos(el));
    home = { position: sphere.center.clone().addScaledVector(dir, dist), target: sphere.center.clone() };
    camera.near = dist / 100;
    camera.far = dist * 100;
    camera.updateProjectionMatrix();
    controls.minDistance = r * 0.2;
    controls.maxDistance = dist * 20;
    // The grid lies under the model, a few times its footprint.
    const extent = Math.max(box.max.x - box.min.x, box.max.z - box.min.z, 1e-3);
    const step = Math.pow(10, Math.floor(Math.log10(extent / 2)));
    const cells = Math.ceil((extent * 3) / step / 2) * 2;
    const visible = grid.visible;
    scene.remove(grid);
    grid.dispose();
    grid = makeGrid(cells * step, cells);
    grid.visible = visible;
    grid.position.set(sphere.center.x, box.min.y, sphere.center.z);
    scene.add(grid);
    resetView();
  }

  function resetView() {
    if (!home) return;
    camera.position.copy(home.position);
    controls.target.copy(home.target);
    camera.lookAt(home.target);
    controls.update();
    requestDraw();
  }

  function applyWireframe() {
    if (!model) return;
    model.traverse((o) => {
      if (!o.isMesh) return;
      const mats = Array.isArray(o.material) ? o.material : [o.material];
      for (const m of mats) m.wireframe = wireframe;
    });
    requestDraw();
  }

  // A textured model of ours keeps its vertex colours as _COLOR_0 (glTF
  // would multiply COLOR_0 into the texture): the switch shows one or the
  // other.
  function applyTexture() {
    if (!model) return;
    model.traverse((o) => {
      const t = o.isMesh && o.userData.lnTexture;
      if (!t) return;
      const useMap = textured || !t.colors;
      if (useMap) o.geometry.deleteAttribute('color');
      else o.geometry.setAttribute('color', t.colors);
      for (const m of Array.isArray(o.material) ? o.material : [o.material]) {
        m.map = useMap ? t.map : null;
        m.vertexColors = !useMap;
        m.needsUpdate = true;
      }
    });
    requestDraw();
  }

  function hasTexture() {
    let found = false;
    if (model) model.traverse((o) => (found = found || !!(o.isMesh && o.userData.lnTexture)));
    return found;
  }

  // Makes sure the colours of the file show: COLOR_0 switches on vertex
  // colours, and a metallic surface (glTF's default) would look black
  // under these lights.
  function prepare(root) {
    root.traverse((o) => {
      if (!o.isMesh) return;
      const first = Array.isArray(o.material) ? o.material[0] : o.material;
      if (first && first.map)
        o.userData.lnTexture = { map: first.map, colors: o.geometry.getAttribute('_color_0') || null };
      const hasColors = !!o.geometry.getAttribute('color');
      const mats = Array.isArray(o.material) ? o.material : [o.material];
      o.material = mats.map((m) => {
        const mat = m && m.isMeshStandardMaterial ? m : new THREE.MeshStandardMaterial();
        if (mat !== m && m) m.dispose();
        mat.vertexColors = hasColors || mat.vertexColors;
        mat.metalness = 0;
        mat.roughness = Math.max(mat.roughness ?? 0.9, 0.6);
        mat.side = THREE.DoubleSide;
        mat.needsUpdate = true;
        return mat;
      });
      if (o.material.length === 1) o.material = o.material[0];
    });
  }

  return {
    canvas,
    // Loads a GLB; resolves once it is shown. A later load wins over an
    // earlier one still on its way.
    async load(url) {
      const token = ++loadToken;
      const gltf = await loader.loadAsync(url);
      if (token !== loadToken) return false;
      disposeModel();
      model = gltf.scene;
      prepare(model);
      scene.add(model);
      applyWireframe();
      applyTexture();
      frameModel();
      return true;
    },
    clear() {
      loadToken++;
      disposeModel();
      home = null;
      requestDraw();
    },
    resetView,
    setWireframe(on) {
      wireframe = on;
      applyWireframe();
    },
    setGrid(on) {
      grid.visible = on;
      requestDraw();
    },
    // Baked texture (true) or the vertex colours beside it (false).
    setTexture(on) {
      textured = on;
      applyTexture();
    },
    hasTexture,
    hasModel: () => model !== null,
  };
}
